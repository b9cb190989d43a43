#!/usr/bin/env python3
"""Checks the crash soak: the server holds every span the agent was told was queued, each exactly once, with the
status it was finished with, and nothing else.

Usage: verify_soak.py --api-url URL --token TOKEN --ledger FILE

The ledger (written by `prefactor-core-benchmark soak-agent`) has `begin N` before span N and `N STATUS INSTANCE`
once its create and finish calls returned. Acknowledged spans must be on the server exactly once with STATUS; a
span begun but not acknowledged (the agent was killed in between) may be there at most once; no other span may be.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import urllib.request


def get(base: str, token: str, path: str, params: list[tuple[str, str]]) -> dict:
    url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def pages(base: str, token: str, path: str, params: list[tuple[str, str]]):
    offset = 0
    while True:
        body = get(base, token, path, params + [("pagination[offset]", str(offset)), ("pagination[page_size]", "100")])
        yield from body.get("summaries") or body.get("details") or []
        following = (body.get("pagination") or {}).get("next_page_offset")
        if following is None:
            return
        offset = following


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--ledger", required=True)
    args = parser.parse_args()

    acknowledged: dict[int, str] = {}
    begun: set[int] = set()
    with open(args.ledger, encoding="utf-8") as ledger:
        for line in ledger:
            fields = line.split()
            if not line.endswith("\n") or not fields:
                continue
            if fields[0] == "begin":
                begun.add(int(fields[1]))
            else:
                acknowledged[int(fields[0])] = fields[1]

    seen: dict[int, list[str]] = {}
    for agent in pages(args.api_url, args.token, "/api/v1/agent", []):
        for instance in pages(args.api_url, args.token, "/api/v1/agent_instance", [("agent_id", agent["id"])]):
            for span in pages(args.api_url, args.token, "/api/v1/agent_spans", [("agent_instance_id", instance["id"])]):
                number = (span.get("payload") or {}).get("n")
                if span.get("schema_name") == "soak:step" and isinstance(number, int):
                    seen.setdefault(number, []).append(span["status"])

    problems: list[str] = []
    for number, status in sorted(acknowledged.items()):
        statuses = seen.get(number, [])
        if statuses != [status]:
            problems.append(f"span {number}: acknowledged as {status}, the server has {statuses or 'nothing'}")
    for number, statuses in sorted(seen.items()):
        if number not in acknowledged:
            if number not in begun:
                problems.append(f"span {number}: on the server ({statuses}) but never begun")
            elif len(statuses) > 1:
                problems.append(f"span {number}: begun once, on the server {len(statuses)} times")
    if problems:
        print("crash soak: FAILED")
        for problem in problems[:50]:
            print("  " + problem)
        return 1
    extra = len([n for n in seen if n not in acknowledged])
    print(f"crash soak: {len(acknowledged)} acknowledged spans on the server exactly once with their status"
          f" ({extra} begun but unacknowledged span(s) present once)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
