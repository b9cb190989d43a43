#!/usr/bin/env python3
"""A slow agent on the OFFICIAL Python SDK that runs until it is terminated.

Usage:
    slow_agent.py --api-url URL --token TOKEN [--agent-id ID] [--deadline SECONDS] [--speed FACTOR] [--verbose]

Used by ``Tests/E2E/watch-e2e.sh``: another process (the terminal UI in watch mode) must see this agent's run and
spans while they are running, and terminate the run (``POST /api/v1/agent_instance/{id}/terminate``).

With ``prefactor-core`` 0.5.3 / ``prefactor-http`` 0.4.3 it registers one agent instance (under ``--agent-id``, or
the token's own agent) with the agent version ``watch-e2e-agent``, starts it, and then repeats rounds of nested
spans (durations divided by ``--speed``)::

    watch:agent                 0.0 s  started ................ 4.0 s complete
      watch:llm                 0.5 s  started ........ 3.5 s complete
        watch:tool              1.0 s  started .. 2.5 s complete
        watch:retrieval         2.5 s  started .. 3.0 s failed

so one to three spans are always active, and every round finishes four spans.

The SDK learns of a termination from the ``control`` block of the responses to its queued span *finish* requests
(and, as a fallback, from polling ``GET /api/v1/agent_instance/{id}`` every 30 s): that is why the rounds keep
finishing spans. It reports it through its ``TerminationMonitor`` (``client._termination_monitor``; prefactor-core
0.5.3 has no public accessor for it), which sets its event and calls the callbacks subscribed to it. The agent
subscribes one, and once it is called cancels the spans it has open (innermost first), finishes the instance (the
server answers 409 for a terminated instance, which the SDK treats as done) and exits.

Prints, one line each, flushed at once (the test reads them from a file):

    INSTANCE id=<instance id>          once the instance is registered and started
    ROUND n=<n>                        at the start of every round
    TERMINATED reason=<reason> via=<control|poll> round=<n> after=<seconds from start to the SDK's signal>
    NOT TERMINATED within <seconds> s  (exit status 1)

``via`` says which path of the SDK reported it: ``control`` (a span finish response) or ``poll``.

Exit status: 0 once terminated, with no WARNING-or-above record from the SDK loggers and no exception (the client
drains its queue on exit); 1 if no termination arrived within ``--deadline`` seconds (default 60) or anything went
wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
import traceback
from typing import Any, AsyncIterator

from prefactor_core import InMemoryQueue, PrefactorCoreClient, PrefactorCoreConfig, QueueConfig, SchemaRegistry
from prefactor_http import HttpClientConfig

AGENT_VERSION = {
    "name": "watch-e2e-agent",
    "external_identifier": "watch-e2e-agent-1.0.0",
    "description": "prefactor-swift watch-mode end-to-end test (official Python SDK)",
}
SCHEMA_EXT_ID = "prefactor-swift-watch-e2e-schema-1"


def out(line: str) -> None:
    print(line, flush=True)


class Problems(logging.Handler):
    """Records every WARNING-or-above record from the SDK loggers."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.items: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"log {record.levelname} {record.name}: {record.getMessage()}"
        except Exception:  # pragma: no cover - never let logging break the run
            text = f"log {record.levelname} {record.name}: <unformattable>"
        self.items.append(text)


PROBLEMS = Problems()


def install_logging(verbose: bool) -> None:
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter("slow_agent: %(levelname)s %(name)s: %(message)s"))
    for name in ("prefactor_core", "prefactor_http", "asyncio"):
        lg = logging.getLogger(name)
        lg.setLevel(logging.DEBUG if verbose else logging.INFO)
        lg.addHandler(PROBLEMS)
        lg.addHandler(stderr)
        lg.propagate = False


def build_registry() -> SchemaRegistry:
    reg = SchemaRegistry()
    reg.register_type(
        "watch:agent",
        params_schema={"type": "object", "properties": {"task": {"type": "string"}, "round": {"type": "integer"}}},
        result_schema={"type": "object", "properties": {"answer": {"type": "string"}}},
        title="Agent",
    )
    reg.register_type(
        "watch:llm",
        params_schema={"type": "object", "properties": {"model": {"type": "string"}, "prompt": {"type": "string"}}},
        result_schema={"type": "object", "properties": {"response": {"type": "string"}}},
        title="LLM Call",
    )
    reg.register_type(
        "watch:tool",
        params_schema={"type": "object", "properties": {"tool": {"type": "string"}, "input": {"type": "string"}}},
        result_schema={"type": "object", "properties": {"output": {"type": "string"}}},
        title="Tool Call",
    )
    reg.register_type(
        "watch:retrieval",
        params_schema={"type": "object", "properties": {"query": {"type": "string"}}},
        result_schema={"type": "object", "properties": {"error": {"type": "string"}}},
        title="Retrieval",
    )
    return reg


class Terminated(Exception):
    """Raised inside a round once the SDK has reported the termination."""


async def agent(args: argparse.Namespace) -> int:
    started = time.monotonic()
    http_config = HttpClientConfig(api_url=args.api_url, api_token=args.token, max_retries=0)
    config = PrefactorCoreConfig(
        http_config=http_config,
        queue_config=QueueConfig(num_workers=2, max_retries=3),
        schema_registry=build_registry(),
    )
    speed = args.speed

    async with PrefactorCoreClient(config, queue=InMemoryQueue()) as client:
        monitor = client._termination_monitor  # noqa: SLF001 - no public accessor in prefactor-core 0.5.3
        if monitor is None:
            out("slow_agent: the SDK has no termination monitor")
            return 1
        terminated = asyncio.Event()
        seen: dict[str, Any] = {}

        def on_terminated() -> None:
            # Called by the SDK once, right after it set its own event: from the task of its 30 s poll, or from the
            # queue worker whose span finish response carried the control block.
            task = asyncio.current_task()
            coro = task.get_coro() if task is not None else None
            seen["reason"] = monitor.termination_reason
            seen["via"] = "poll" if "_poll" in getattr(coro, "__qualname__", "") else "control"
            seen["at"] = time.monotonic()
            terminated.set()

        monitor.subscribe(on_terminated)

        handle = await client.create_agent_instance(
            agent_version=AGENT_VERSION, external_schema_version_id=SCHEMA_EXT_ID, agent_id=args.agent_id
        )
        await handle.start()
        out(f"INSTANCE id={handle.id}")

        async def pause(seconds: float) -> None:
            """Sleeps, or raises Terminated as soon as the termination is known."""
            try:
                await asyncio.wait_for(terminated.wait(), seconds / speed)
            except asyncio.TimeoutError:
                return
            raise Terminated

        @contextlib.asynccontextmanager
        async def span(schema_name: str, payload: dict[str, Any]) -> AsyncIterator[Any]:
            """A started span; cancelled (not completed, as the SDK would on an exception) when terminated."""
            async with handle.span(schema_name) as context:
                await context.start(payload)
                try:
                    yield context
                except Terminated:
                    await context.cancel()
                    raise

        round_no = 0
        deadline = started + args.deadline
        while True:
            round_no += 1
            if time.monotonic() >= deadline:
                out(f"NOT TERMINATED within {args.deadline:g} s (rounds: {round_no - 1})")
                await handle.finish("failed")
                return 1
            out(f"ROUND n={round_no}")
            try:
                async with span("watch:agent", {"task": "answer the question", "round": round_no}) as outer:
                    await pause(0.5)
                    async with span("watch:llm", {"model": "slow-model", "prompt": f"round {round_no}"}) as llm:
                        await pause(0.5)
                        async with span("watch:tool", {"tool": "search", "input": f"round {round_no}"}) as tool:
                            await pause(1.5)
                            await tool.complete({"output": "found it"})
                        async with span("watch:retrieval", {"query": f"round {round_no}"}) as retrieval:
                            await pause(0.5)
                            await retrieval.fail({"error": "index unavailable"})
                        await pause(0.5)
                        await llm.complete({"response": "an answer"})
                    await pause(0.5)
                    await outer.complete({"answer": "done"})
            except Terminated:
                out(
                    f"TERMINATED reason={seen.get('reason')} via={seen.get('via')} round={round_no} "
                    f"after={seen.get('at', time.monotonic()) - started:.1f}s"
                )
                # The instance is terminated: its finish gets 409, which the SDK treats as done.
                await handle.finish("cancelled")
                return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api-url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--agent-id", help="the agent to register the instance under (default: the token's own)")
    ap.add_argument("--deadline", type=float, default=60.0, help="seconds to wait for the termination (default 60)")
    ap.add_argument("--speed", type=float, default=1.0, help="speed factor: 2 makes every span half as long")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    install_logging(args.verbose)
    try:
        # Leave room for the final drain after the deadline.
        status = asyncio.run(asyncio.wait_for(agent(args), args.deadline + 30))
    except BaseException as exc:  # noqa: BLE001 - every failure counts
        out("slow_agent: exception:\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return 1
    if PROBLEMS.items:
        out(f"slow_agent: {len(PROBLEMS.items)} SDK problem(s):")
        for item in PROBLEMS.items:
            out("  - " + item)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
