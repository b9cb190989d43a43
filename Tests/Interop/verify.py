#!/usr/bin/env python3
"""Verify that a Prefactor API server shows exactly what scenario.py made.

Usage:
    verify.py --api-url URL --token TOKEN --expect PATH [--page-size N]

Standard library only (urllib). For every instance in the expectation file it
reads ``GET /api/v1/agent_instance/{id}`` and every page of
``GET /api/v1/agent_spans?agent_instance_id=ID&start_time=...&end_time=...``
(``pagination[offset]`` / ``pagination[page_size]``, following
``next_page_offset``), then checks:

* instance: envelope, ``type``, ``id``, final ``status``; ``started_at`` /
  ``finished_at`` present (and equal to the SDK-supplied value where the
  scenario passed an explicit timestamp); ``quality_payloads`` equal to what
  was recorded; ``purpose`` / ``external_identifier`` when the server returns
  them; ``span_counts`` (when present) consistent with the expected spans;
* spans: exactly the expected set, no missing, no extra, no duplicates (by id,
  or by the ``match`` object for spans whose id the SDK does not expose);
  ``agent_instance_id``, ``schema_name``, ``parent_span_id``, ``status``,
  ``payload``, ``result_payload`` (null == {} == absent), ``started_at`` set,
  ``finished_at`` set iff the status is terminal, explicit timestamps equal to
  within 1 ms;
* pagination: envelope keys present and every pagination field consistent
  with the page that was requested.

Prints a diff and exits 1 on any mismatch; prints a one-line summary otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any

WINDOW_START = datetime(2000, 1, 1, tzinfo=timezone.utc).isoformat(timespec="microseconds")
WINDOW_END = datetime(2100, 1, 1, tzinfo=timezone.utc).isoformat(timespec="microseconds")
TERMINAL = ("complete", "failed", "cancelled", "terminated")
TIME_TOLERANCE_S = 0.001
MAX_PAGES = 1000


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, text: str) -> None:
        self.items.append(f"{where}: {text}")


def fmt(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.token = token

    def get(self, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any, str]:
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, method="GET", headers={
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
        })
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            body = None
        return status, body, url


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return dt


def check_time(problems: Problems, where: str, field: str, actual: Any, expected: str | None) -> None:
    """Presence/format check, plus equality when an explicit value is expected."""
    dt = parse_time(actual)
    if dt is None:
        problems.add(where, f"{field} missing or not an ISO 8601 timestamp with offset: {fmt(actual)}")
        return
    if expected is not None:
        want = parse_time(expected)
        if want is None or abs((dt - want).total_seconds()) > TIME_TOLERANCE_S:
            problems.add(where, f"{field} expected {expected} (sent by the SDK), got {actual}")


def empty_result(v: Any) -> bool:
    return v is None or v == {}


def check_pagination(problems: Problems, where: str, body: dict, offset: int, size: int, count_seen: list[int]) -> None:
    for key in ("status", "summaries", "pagination", "sorting"):
        if key not in body:
            problems.add(where, f"list envelope lacks key {key!r}")
    p = body.get("pagination")
    if not isinstance(p, dict):
        problems.add(where, f"pagination is not an object: {fmt(p)}")
        return
    fields = ("item_count", "item_start", "item_end", "page_count", "page_index", "page_offset",
              "page_size", "next_page_offset", "previous_page_offset")
    missing = [f for f in fields if f not in p]
    if missing:
        problems.add(where, f"pagination lacks {missing}")
        return
    n = p["item_count"]
    if not isinstance(n, int):
        problems.add(where, f"pagination.item_count not an int: {fmt(n)}")
        return
    if count_seen and count_seen[0] != n:
        problems.add(where, f"item_count changed between pages: {count_seen[0]} -> {n}")
    count_seen[:] = [n]
    items = len(body.get("summaries") or [])
    expected = {
        "page_offset": offset,
        "page_size": size,
        "page_index": offset // size + 1,
        "page_count": max(1, math.ceil(n / size)),
        "item_end": offset + items,
        "next_page_offset": offset + size if offset + size < n else None,
        "previous_page_offset": max(0, offset - size) if offset > 0 else None,
    }
    if items:
        expected["item_start"] = offset + 1
    for key, want in expected.items():
        if p.get(key) != want:
            problems.add(where, f"pagination.{key} expected {fmt(want)}, got {fmt(p.get(key))} ({fmt(p)})")
    if items != min(size, max(0, n - offset)):
        problems.add(where, f"page holds {items} summaries, expected {min(size, max(0, n - offset))} "
                            f"(item_count {n}, offset {offset}, page_size {size})")


def list_spans(api: Api, problems: Problems, instance_id: str, page_size: int) -> list[dict] | None:
    out: list[dict] = []
    offset = 0
    count_seen: list[int] = []
    for _ in range(MAX_PAGES):
        params = {
            "agent_instance_id": instance_id,
            "start_time": WINDOW_START,
            "end_time": WINDOW_END,
            "pagination[offset]": offset,
            "pagination[page_size]": page_size,
        }
        status, body, url = api.get("/api/v1/agent_spans", params)
        where = f"GET {url}"
        if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
            problems.add(where, f"expected 200 success list envelope, got HTTP {status}: {fmt(body)[:400]}")
            return None
        summaries = body.get("summaries")
        if not isinstance(summaries, list):
            problems.add(where, f"summaries is not a list: {fmt(summaries)[:200]}")
            return None
        out.extend(summaries)
        check_pagination(problems, where, body, offset, page_size, count_seen)
        nxt = (body.get("pagination") or {}).get("next_page_offset")
        if nxt is None:
            if count_seen and count_seen[0] != len(out):
                problems.add(where, f"item_count says {count_seen[0]} spans, pages held {len(out)}")
            return out
        if not isinstance(nxt, int) or nxt <= offset:
            problems.add(where, f"next_page_offset {fmt(nxt)} does not advance past offset {offset}")
            return out
        offset = nxt
    problems.add(f"spans of {instance_id}", f"more than {MAX_PAGES} pages; giving up")
    return out


def check_span(problems: Problems, where: str, exp: dict, got: dict, instance_id: str) -> None:
    if got.get("agent_instance_id") != instance_id:
        problems.add(where, f"agent_instance_id expected {instance_id}, got {fmt(got.get('agent_instance_id'))}")
    for field in ("schema_name", "parent_span_id", "status"):
        if got.get(field) != exp[field]:
            problems.add(where, f"{field} expected {fmt(exp[field])}, got {fmt(got.get(field))}")
    if got.get("payload") != exp["payload"]:
        problems.add(where, f"payload expected {fmt(exp['payload'])}, got {fmt(got.get('payload'))}")
    want_result, got_result = exp.get("result_payload"), got.get("result_payload")
    if not (empty_result(want_result) and empty_result(got_result)) and want_result != got_result:
        problems.add(where, f"result_payload expected {fmt(want_result)}, got {fmt(got_result)}")
    check_time(problems, where, "started_at", got.get("started_at"), exp.get("started_at"))
    if exp["status"] in TERMINAL:
        check_time(problems, where, "finished_at", got.get("finished_at"), exp.get("finished_at"))
    elif got.get("finished_at") is not None:
        problems.add(where, f"finished_at should be null for status {exp['status']}, got {fmt(got.get('finished_at'))}")


def describe(span: dict) -> str:
    return (f"id={span.get('id')} schema={span.get('schema_name')} status={span.get('status')} "
            f"parent={span.get('parent_span_id')} payload={fmt(span.get('payload'))}")


def verify_instance(api: Api, problems: Problems, instance_id: str, exp: dict, page_size: int) -> int:
    label = exp.get("label", "?")
    where = f"instance {label} ({instance_id})"

    status, body, url = api.get(f"/api/v1/agent_instance/{urllib.parse.quote(instance_id, safe='')}")
    details = body.get("details") if isinstance(body, dict) else None
    if status != 200 or not isinstance(body, dict) or body.get("status") != "success" or not isinstance(details, dict):
        problems.add(where, f"GET {url} expected 200 success envelope, got HTTP {status}: {fmt(body)[:400]}")
        details = None
    if details is not None:
        if details.get("type") != "agent_instance":
            problems.add(where, f"type expected \"agent_instance\", got {fmt(details.get('type'))}")
        if details.get("id") != instance_id:
            problems.add(where, f"id expected {instance_id}, got {fmt(details.get('id'))}")
        if details.get("status") != exp["status"]:
            problems.add(where, f"status expected {fmt(exp['status'])}, got {fmt(details.get('status'))}")
        check_time(problems, where, "started_at", details.get("started_at"), exp.get("started_at"))
        if exp["status"] in TERMINAL:
            check_time(problems, where, "finished_at", details.get("finished_at"), exp.get("finished_at"))
        got_q = details.get("quality_payloads") or {}
        if got_q != exp.get("quality_payloads", {}):
            problems.add(where, f"quality_payloads expected {fmt(exp.get('quality_payloads', {}))}, got {fmt(got_q)}")
        if details.get("purpose") is not None and details.get("purpose") != exp.get("purpose"):
            problems.add(where, f"purpose expected {fmt(exp.get('purpose'))}, got {fmt(details.get('purpose'))}")
        if (exp.get("external_identifier") is not None and details.get("external_identifier") is not None
                and details.get("external_identifier") != exp["external_identifier"]):
            problems.add(where, f"external_identifier expected {fmt(exp['external_identifier'])}, "
                                f"got {fmt(details.get('external_identifier'))}")
        counts = details.get("span_counts")
        if counts is not None:
            want = {k: 0 for k in ("pending", "active", "complete", "failed", "cancelled")}
            for s in exp["spans"]:
                want[s["status"]] = want.get(s["status"], 0) + 1
            want["total"] = len(exp["spans"])
            want["finished"] = want["complete"] + want["failed"] + want["cancelled"]
            got_counts = {k: counts.get(k) for k in want} if isinstance(counts, dict) else counts
            if got_counts != want:
                problems.add(where, f"span_counts expected {fmt(want)}, got {fmt(counts)}")

    listed = list_spans(api, problems, instance_id, page_size)
    if listed is None:
        return 0

    by_id: dict[str, dict] = {}
    unclaimed: list[dict] = []
    for span in listed:
        sid = span.get("id") if isinstance(span, dict) else None
        if not isinstance(sid, str):
            problems.add(where, f"listed span without a string id: {fmt(span)[:300]}")
            continue
        if sid in by_id:
            problems.add(where, f"duplicate span in list: {describe(span)}")
            continue
        by_id[sid] = span

    claimed: set[str] = set()
    for exp_span in exp["spans"]:
        sid = exp_span.get("id")
        if sid is None:
            continue
        swhere = f"span {exp_span.get('label')} ({sid})"
        got = by_id.get(sid)
        if got is None:
            problems.add(swhere, f"MISSING from the list (expected {describe(exp_span)})")
            continue
        claimed.add(sid)
        check_span(problems, swhere, exp_span, got, instance_id)

    unclaimed = [s for sid, s in by_id.items() if sid not in claimed]
    for exp_span in exp["spans"]:
        if exp_span.get("id") is not None:
            continue
        match = exp_span.get("match") or {}
        swhere = f"span {exp_span.get('label')} (matched by {fmt(match)})"
        candidates = [s for s in unclaimed if all(s.get(k) == v for k, v in match.items())]
        if not candidates:
            problems.add(swhere, "MISSING: no unclaimed listed span matches")
            continue
        got = candidates[0]
        unclaimed.remove(got)
        check_span(problems, swhere + f" -> {got.get('id')}", exp_span, got, instance_id)

    for extra in unclaimed:
        problems.add(where, f"EXTRA span not made by the scenario: {describe(extra)}")
    return len(exp["spans"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api-url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--page-size", type=int, default=100)
    args = ap.parse_args()

    with open(args.expect, encoding="utf-8") as fh:
        expect = json.load(fh)
    instances = expect.get("instances") or {}
    if not instances:
        print("interop: expectation file lists no instances", file=sys.stderr)
        return 1

    api = Api(args.api_url, args.token)
    problems = Problems()
    spans = 0
    for instance_id, exp in instances.items():
        spans += verify_instance(api, problems, instance_id, exp, args.page_size)

    if problems.items:
        print(f"interop: FAILED, {len(problems.items)} mismatch(es) between the server and the scenario:", file=sys.stderr)
        for item in problems.items:
            print(f"  - {item}", file=sys.stderr)
        return 1
    print(f"interop: {len(instances)} instances, {spans} spans verified (page size {args.page_size})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
