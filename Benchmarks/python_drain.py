"""Drain benchmark for the official Python SDK (prefactor-core), the same workload as
`prefactor-core-benchmark drain`: INSTANCES instances, each started, with SPANS spans created and
finished through the handle, then finished. Prints operations per second, from the first call until
the client has closed (its queue drained)."""

import argparse
import asyncio
import time

from prefactor_core import PrefactorCoreClient, PrefactorCoreConfig, QueueConfig
from prefactor_http import HttpClientConfig


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--spans", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    config = PrefactorCoreConfig(
        http_config=HttpClientConfig(api_url=args.api_url, api_token=args.token),
        queue_config=QueueConfig(num_workers=args.workers),
    )
    started = time.perf_counter()
    async with PrefactorCoreClient(config) as client:
        for _ in range(args.instances):
            handle = await client.create_agent_instance(
                agent_version={"name": "bench"}, agent_schema_version={}
            )
            await handle.start()
            for index in range(args.spans):
                span_id = await handle.create_span(
                    schema_name="agent:llm", payload={"model": "gpt-4", "index": index}
                )
                await handle.finish_span(span_id, result_payload={"response": "ok"})
            await handle.finish()
    elapsed = time.perf_counter() - started
    operations = args.instances * (3 + 2 * args.spans)
    print(
        f"python drain: {args.instances} instances x {args.spans} spans, {args.workers} workers: "
        f"{operations} operations in {elapsed:.2f} s = {operations / elapsed:.0f} operations/s"
    )


if __name__ == "__main__":
    asyncio.run(main())
