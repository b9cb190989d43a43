#!/usr/bin/env python3
"""Interop scenario: drive the OFFICIAL Python SDK against a Prefactor API server.

Usage:
    scenario.py --api-url URL --token TOKEN --expect-out PATH [--verbose]

Uses only the public API of ``prefactor-core`` 0.5.3 / ``prefactor-http`` 0.4.3
(PrefactorCoreClient, PrefactorCoreConfig, QueueConfig, InMemoryQueue,
SchemaRegistry, AgentInstanceHandle, SpanContext, PrefactorHttpClient,
HttpClientConfig). The token is expected to be deployment scoped, so no
``agent_id`` is ever sent.

What it does (4 agent instances; alpha+beta run concurrently, then gamma+delta):

* alpha  (finish complete, with an instance external_identifier): spans
  nested 3 deep with the parent taken from the context stack; an explicit ``parent_span_id`` overriding the stack top;
  ``set_result`` + ``complete()`` + a no-op ``finish()``; ``fail()``;
  ``cancel()`` after start; cancel before start (``cancel_unstarted`` path);
  a span auto-started on context exit with its default payload; quality.
* beta   (finish failed, purpose smoke_test): three concurrent asyncio tasks
  under one root span, each nesting 2 more levels (parent inherited through
  the task's copy of the context stack); ``handle.create_span`` /
  ``handle.finish_span`` with an auto-detected and an explicit parent; an
  exception raised inside ``async with span`` (the SDK still finishes it
  ``complete``); a root-level cancel before start; quality.
* gamma  (finish complete, explicit agent_schema_version dict): many span
  finishes are enqueued and the instance finish is enqueued right behind them
  without yielding, so the finish races the queued span finishes (asserted via
  the queue size). Then, once the server reports the instance finished, one
  more span is finished and one more quality payload is recorded (late
  operations after instance finish, which the SDK's 3-worker queue can
  produce on its own at any time).
* delta  (finish cancelled, purpose eval, auto-generated schema identifier):
  explicit timestamps everywhere (instance start/finish, span started_at and
  finish timestamps, including a cancel-before-start with a past timestamp);
  a quality payload recorded and then removed with ``payload=None``.

Two barriers poll ``GET /api/v1/agent_instance/{id}`` through the SDK's own
``PrefactorHttpClient`` (read-only) so that the "late" operations are really
late on the wire; at the end every instance is read back the same way, which
also validates the GET response against the SDK's pydantic models. HTTP-level
retries are disabled (``max_retries=0``) because the SDK retries 5xx silently.

The SDK must finish with zero WARNING-or-above log records from the
``prefactor_core`` / ``prefactor_http`` (and ``asyncio``) loggers and no
exception; otherwise the exit code is 1. The expectation file (written even on
failure, for debugging) has the shape::

    {"instances": {ID: {"label", "status", "purpose", "quality_payloads",
                        "external_identifier"?, "started_at"?, "finished_at"?,
                        "spans": [{"label", "id", "schema_name",
                                   "parent_span_id", "status", "payload",
                                   "result_payload", "started_at"?,
                                   "finished_at"?, "match"?}]}}}

Spans created through the cancel-before-start path never expose their API id
through the public API (``SpanContext.id`` keeps the temporary local id), so
they have ``"id": null`` and a ``"match"`` object (schema_name,
parent_span_id, status, payload) that is unique within the instance.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import traceback
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from prefactor_core import (
    InMemoryQueue,
    PrefactorCoreClient,
    PrefactorCoreConfig,
    QueueConfig,
    SchemaRegistry,
)
from prefactor_core import __version__ as CORE_VERSION
from prefactor_http import HttpClientConfig, PrefactorHttpClient
from prefactor_http import __version__ as HTTP_VERSION

RUN = uuid.uuid4().hex[:10]
SCHEMA_EXT_ID = "prefactor-swift-interop-schema-1"
AGENT_VERSION = {
    "name": "interop-agent",
    "external_identifier": "interop-agent-1.0.0",
    "description": "prefactor-swift interop scenario (official Python SDK)",
}
AGENT_VERSION_2 = {
    "name": "interop-agent",
    "external_identifier": "interop-agent-1.1.0",
    "description": "prefactor-swift interop scenario, second version",
}
TERMINAL = ("complete", "failed", "cancelled")


# --------------------------------------------------------------------------
# Error collection
# --------------------------------------------------------------------------


class ErrorCollector(logging.Handler):
    """Records every WARNING-or-above record from the SDK loggers."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"log {record.levelname} {record.name}: {record.getMessage()}"
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        except Exception:  # pragma: no cover - never let logging break the run
            text = f"log {record.levelname} {record.name}: <unformattable>"
        self.problems.append(text)

    def add(self, text: str) -> None:
        self.problems.append(text)


COLLECTOR = ErrorCollector()


class OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"scenario: {record.levelname} {record.name}: {record.getMessage()}"


def install_logging(verbose: bool) -> None:
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # One line per record here; the final report repeats them with tracebacks.
    stderr.setFormatter(OneLineFormatter())
    for name in ("prefactor_core", "prefactor_http", "asyncio"):
        lg = logging.getLogger(name)
        lg.setLevel(logging.DEBUG if verbose else logging.INFO)
        lg.addHandler(COLLECTOR)
        lg.addHandler(stderr)
        lg.propagate = False


def loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    exc = context.get("exception")
    text = f"asyncio loop error: {context.get('message')}"
    if exc is not None:
        text += "\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    COLLECTOR.add(text)
    print(f"scenario: {text}", file=sys.stderr)


# --------------------------------------------------------------------------
# Expectations
# --------------------------------------------------------------------------


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="microseconds") if dt is not None else None


class InstanceExpect:
    def __init__(self, instance_id: str, label: str, purpose: str | None) -> None:
        self.id = instance_id
        self.label = label
        self.status: str | None = None
        self.purpose = purpose or "live"
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.quality: dict[str, Any] = {}
        self.external_identifier: str | None = None
        self.spans: list[dict[str, Any]] = []

    def span(
        self,
        label: str,
        span_id: str | None,
        schema_name: str,
        parent: str | None,
        status: str,
        payload: dict[str, Any],
        result: dict[str, Any] | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        match_only: bool = False,
    ) -> None:
        entry: dict[str, Any] = {
            "label": f"{self.label}.{label}",
            "id": None if match_only else span_id,
            "schema_name": schema_name,
            "parent_span_id": parent,
            "status": status,
            "payload": payload,
            "result_payload": result or None,
        }
        if started_at is not None:
            entry["started_at"] = iso(started_at)
        if finished_at is not None:
            entry["finished_at"] = iso(finished_at)
        if match_only:
            entry["match"] = {
                "schema_name": schema_name,
                "parent_span_id": parent,
                "status": status,
                "payload": payload,
            }
        self.spans.append(entry)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "status": self.status,
            "purpose": self.purpose,
            "quality_payloads": self.quality,
            "spans": self.spans,
        }
        if self.external_identifier is not None:
            out["external_identifier"] = self.external_identifier
        if self.started_at is not None:
            out["started_at"] = iso(self.started_at)
        if self.finished_at is not None:
            out["finished_at"] = iso(self.finished_at)
        return out


class Expectations:
    def __init__(self) -> None:
        self.instances: list[InstanceExpect] = []

    def instance(self, handle: Any, label: str, purpose: str | None = None) -> InstanceExpect:
        inst = InstanceExpect(handle.id, label, purpose)
        self.instances.append(inst)
        return inst

    def self_check(self) -> None:
        """Sanity checks on what the scenario itself recorded."""
        seen: set[str] = set()
        for inst in self.instances:
            if inst.id in seen:
                COLLECTOR.add(f"self-check: duplicate instance id {inst.id}")
            seen.add(inst.id)
            if inst.status not in TERMINAL:
                COLLECTOR.add(f"self-check: instance {inst.label} has no final status")
            matches: list[str] = []
            for s in inst.spans:
                if s["id"] is None:
                    key = json.dumps(s["match"], sort_keys=True)
                    if key in matches:
                        COLLECTOR.add(f"self-check: ambiguous match spec {s['label']}")
                    matches.append(key)
                    continue
                if s["id"] in seen:
                    COLLECTOR.add(f"self-check: duplicate span id {s['id']} ({s['label']})")
                seen.add(s["id"])
            known = {s["id"] for s in inst.spans if s["id"]}
            for s in inst.spans:
                p = s["parent_span_id"]
                if p is not None and p not in known:
                    COLLECTOR.add(f"self-check: {s['label']} parent {p} is not a known API id")

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": RUN,
            "sdk": {"prefactor-core": CORE_VERSION, "prefactor-http": HTTP_VERSION},
            "instances": {i.id: i.to_json() for i in self.instances},
        }

    def span_count(self) -> int:
        return sum(len(i.spans) for i in self.instances)


# --------------------------------------------------------------------------
# Schemas and payload helpers
# --------------------------------------------------------------------------


def build_registry() -> SchemaRegistry:
    reg = SchemaRegistry()
    # Legacy flat maps (as in python-sdk-requests.jsonl).
    reg.register("agent:step", {"type": "object", "properties": {"step": {"type": "integer"}}})
    reg.register_result("agent:step", {"type": "object", "properties": {"done": {"type": "boolean"}}})
    # Structured span types with titles/templates.
    reg.register_type(
        "agent:llm",
        params_schema={
            "type": "object",
            "properties": {"model": {"type": "string"}, "prompt": {"type": "string"}},
            "required": ["model", "prompt"],
        },
        result_schema={
            "type": "object",
            "properties": {"response": {"type": "string"}, "error": {"type": "string"}},
        },
        title="LLM Call",
        description="A call to a language model",
        template="{{model}}: {{prompt}} -> {{response}}",
    )
    reg.register_type(
        "agent:tool",
        params_schema={
            "type": "object",
            "properties": {"tool": {"type": "string"}, "input": {"type": "string"}},
        },
        result_schema={"type": "object", "properties": {"output": {"type": "string"}}},
        title="Tool Call",
    )
    reg.register_type(
        "agent:retrieval",
        params_schema={"type": "object", "properties": {"query": {"type": "string"}}},
        result_schema={
            "type": "object",
            "properties": {"documents": {"type": "integer"}, "error": {"type": "string"}},
        },
        title="Retrieval",
        description="Document retrieval",
        template="{{query}} ({{documents}} docs)",
        data_risk={
            "action_profile": {"read_data": "allowed", "destroy_data": "disallowed"},
            "params_data_categories": {"personal_identifiers": "excluded"},
            "result_data_categories": {"classification": "internal"},
        },
    )
    reg.register_quality_schema(
        "accuracy",
        {"type": "object", "properties": {"score": {"type": "number"}}, "required": ["score"]},
        title="Accuracy",
        template="{{score}}",
    )
    reg.register_quality_schema(
        "helpfulness",
        {
            "type": "object",
            "properties": {"rating": {"type": "integer"}, "comment": {"type": "string"}},
        },
        title="Helpfulness",
        description="Human rating of the run",
        template="{{rating}}/5 {{comment}}",
    )
    return reg


def llm(label: str) -> dict[str, Any]:
    return {"model": "interop-model", "prompt": f"prompt {label} {RUN}"}


def tool(label: str) -> dict[str, Any]:
    return {"tool": "search", "input": f"{label} {RUN}"}


def step(n: int, label: str) -> dict[str, Any]:
    return {"step": n, "label": f"{label} {RUN}"}


def retrieval(label: str) -> dict[str, Any]:
    return {"query": f"{label} {RUN}"}


# --------------------------------------------------------------------------
# Observation barrier (read-only, through the official prefactor-http client)
# --------------------------------------------------------------------------


class Observer:
    """Polls the server's view of an instance with the SDK's own HTTP client.

    Used only as a barrier so that deliberately "late" operations are really
    late on the wire; it never changes server state.
    """

    def __init__(self, http: PrefactorHttpClient) -> None:
        self._http = http

    async def wait_for(self, instance_id: str, what: str, predicate, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = await self._http.agent_instances.get(instance_id)
            if predicate(last):
                return last
            await asyncio.sleep(0.05)
        state = last.status if last is not None else None
        raise TimeoutError(f"timed out waiting for instance {instance_id} to {what} (last status {state})")


# --------------------------------------------------------------------------
# Instance scenarios
# --------------------------------------------------------------------------


async def run_alpha(client: PrefactorCoreClient, exp: Expectations) -> None:
    h = await client.create_agent_instance(
        agent_version=AGENT_VERSION,
        external_schema_version_id=SCHEMA_EXT_ID,
        external_identifier=f"interop-{RUN}-alpha",
    )
    I = exp.instance(h, "alpha")
    I.external_identifier = f"interop-{RUN}-alpha"
    await h.start()

    async with h.span("agent:llm") as root:
        await root.start(llm("alpha.root"))  # usually reaches the server before the instance start
        async with h.span("agent:tool") as t:  # level 2, parent from the stack
            await t.start(tool("alpha.tool"))
            async with h.span("agent:step") as s1:  # level 3, parent from the stack
                await s1.start(step(1, "alpha.step1"))
                s1.set_result({"done": True})
                await s1.complete()
                await s1.finish()  # no-op: already finished
            I.span("step1", s1.id, "agent:step", t.id, "complete", step(1, "alpha.step1"), {"done": True})

            async with h.span("agent:retrieval") as r:  # level 3, fails
                await r.start(retrieval("alpha.retrieval-fail"))
                await r.fail({"error": "index unavailable"})
            I.span("retrieval_fail", r.id, "agent:retrieval", t.id, "failed",
                   retrieval("alpha.retrieval-fail"), {"error": "index unavailable"})

            # Explicit parent wins over the stack top (t).
            async with h.span("agent:step", parent_span_id=root.id) as s2:
                await s2.start(step(2, "alpha.step2-explicit"))
                await s2.complete({"done": False})
            I.span("step2_explicit_parent", s2.id, "agent:step", root.id, "complete",
                   step(2, "alpha.step2-explicit"), {"done": False})

            await t.complete({"output": "tool ok"})
        I.span("tool", t.id, "agent:tool", root.id, "complete", tool("alpha.tool"), {"output": "tool ok"})

        async with h.span("agent:tool") as c:  # cancelled after start
            await c.start(tool("alpha.cancel-started"))
            await c.cancel()
        I.span("cancel_started", c.id, "agent:tool", root.id, "cancelled", tool("alpha.cancel-started"))

        async with h.span("agent:retrieval") as cu:  # cancelled before start
            await cu.cancel()
        I.span("cancel_unstarted", None, "agent:retrieval", root.id, "cancelled", {}, match_only=True)

        # Never started explicitly: auto-started on exit with the default payload.
        async with h.span("agent:tool", payload=tool("alpha.autostart")) as auto:
            pass
        I.span("autostart", auto.id, "agent:tool", root.id, "complete", tool("alpha.autostart"))

        await root.complete({"response": "alpha answer"})
    I.span("root", root.id, "agent:llm", None, "complete", llm("alpha.root"), {"response": "alpha answer"})

    await h.record_quality("accuracy", {"score": 0.9})
    I.quality["accuracy"] = {"score": 0.9}
    await h.finish()  # default status: complete
    I.status = "complete"


async def run_beta(client: PrefactorCoreClient, exp: Expectations) -> None:
    h = await client.create_agent_instance(
        agent_version=AGENT_VERSION,
        external_schema_version_id=SCHEMA_EXT_ID,
        purpose="smoke_test",
    )
    I = exp.instance(h, "beta", purpose="smoke_test")
    await h.start()

    async with h.span("agent:llm") as root:
        await root.start(llm("beta.root"))

        async def worker(i: int) -> None:
            # Each task works on its own copy of the context stack ([root]).
            async with h.span("agent:tool") as t:
                await t.start(tool(f"beta.w{i}.tool"))
                await asyncio.sleep(0.01 * (3 - i))  # interleave the workers
                async with h.span("agent:step") as s:
                    await s.start(step(i, f"beta.w{i}.step"))
                    if i == 1:
                        await s.fail({"done": False})
                        status, result = "failed", {"done": False}
                    else:
                        await s.complete({"done": True})
                        status, result = "complete", {"done": True}
                I.span(f"w{i}.step", s.id, "agent:step", t.id, status, step(i, f"beta.w{i}.step"), result)
                await t.complete({"output": f"worker {i}"})
            I.span(f"w{i}.tool", t.id, "agent:tool", root.id, "complete", tool(f"beta.w{i}.tool"),
                   {"output": f"worker {i}"})

        await asyncio.gather(*(worker(i) for i in range(3)))

        # handle.create_span / finish_span: the created span stays on the stack.
        c1 = await h.create_span("agent:tool", payload=tool("beta.create1"))  # parent: root (stack)
        c2 = await h.create_span("agent:step", payload=step(10, "beta.create2"))  # parent: c1 (stack)
        c3 = await h.create_span("agent:llm", parent_span_id=c1, payload=llm("beta.create3"))  # explicit
        await h.finish_span(c3, result_payload={"response": "c3"})
        await h.finish_span(c2)  # no result payload
        await h.finish_span(c1, result_payload={"output": "c1"})
        I.span("create1", c1, "agent:tool", root.id, "complete", tool("beta.create1"), {"output": "c1"})
        I.span("create2", c2, "agent:step", c1, "complete", step(10, "beta.create2"))
        I.span("create3", c3, "agent:llm", c1, "complete", llm("beta.create3"), {"response": "c3"})

        # An exception inside the body does not change the status: still complete.
        boom = None
        try:
            async with h.span("agent:step", payload=step(11, "beta.exception")) as boom:
                raise RuntimeError("user code failed")
        except RuntimeError:
            pass
        I.span("exception_body", boom.id, "agent:step", root.id, "complete", step(11, "beta.exception"))

        await root.fail({"error": "beta failed on purpose"})
    I.span("root", root.id, "agent:llm", None, "failed", llm("beta.root"), {"error": "beta failed on purpose"})

    # Root-level cancel before start (no parent at all).
    async with h.span("agent:retrieval") as cu:
        await cu.cancel()
    I.span("cancel_unstarted_root", None, "agent:retrieval", None, "cancelled", {}, match_only=True)

    await h.record_quality("helpfulness", {"rating": 2, "comment": "beta"})
    I.quality["helpfulness"] = {"rating": 2, "comment": "beta"}
    await h.finish("failed")
    I.status = "failed"


async def run_gamma(
    client: PrefactorCoreClient,
    exp: Expectations,
    registry: SchemaRegistry,
    queue: InMemoryQueue,
    observer: Observer,
) -> None:
    h = await client.create_agent_instance(
        agent_version=AGENT_VERSION,
        agent_schema_version=registry.to_agent_schema_version(SCHEMA_EXT_ID),
    )
    I = exp.instance(h, "gamma")
    await h.start()

    root = await h.create_span("agent:llm", payload=llm("gamma.root"))
    children = []
    for i in range(6):
        cid = await h.create_span("agent:tool", parent_span_id=root, payload=tool(f"gamma.child{i}"))
        children.append(cid)
    late = await h.create_span("agent:step", parent_span_id=root, payload=step(99, "gamma.late"))
    # Third level under child0 (explicit: the stack top is `late` by now).
    grand = await h.create_span("agent:retrieval", parent_span_id=children[0], payload=retrieval("gamma.grand"))

    # Burst: nothing below yields to the event loop, so all of these sit in the
    # queue together and the instance finish is enqueued behind them.
    await h.finish_span(grand, result_payload={"documents": 3})
    for i, cid in enumerate(children):
        await h.finish_span(cid, result_payload={"output": f"child {i}"})
    await h.finish_span(root, result_payload={"response": "gamma answer"})
    await h.record_quality("accuracy", {"score": 0.75})
    await h.finish("complete")
    queued = queue.size()
    burst = 1 + len(children) + 1 + 1 + 1
    if queued < burst:
        COLLECTOR.add(f"gamma: expected >= {burst} queued operations when the instance finish was enqueued, saw {queued}")

    I.span("root", root, "agent:llm", None, "complete", llm("gamma.root"), {"response": "gamma answer"})
    for i, cid in enumerate(children):
        I.span(f"child{i}", cid, "agent:tool", root, "complete", tool(f"gamma.child{i}"), {"output": f"child {i}"})
    I.span("grandchild", grand, "agent:retrieval", children[0], "complete", retrieval("gamma.grand"), {"documents": 3})
    I.quality["accuracy"] = {"score": 0.75}
    I.status = "complete"

    # Late operations: strictly after the server has finished the instance.
    await observer.wait_for(h.id, "finish", lambda inst: inst.status in TERMINAL)
    await h.finish_span(late, result_payload={"done": True})
    I.span("late_after_instance_finish", late, "agent:step", root, "complete", step(99, "gamma.late"), {"done": True})
    await h.record_quality("helpfulness", {"rating": 5, "comment": "late"})
    I.quality["helpfulness"] = {"rating": 5, "comment": "late"}


async def run_delta(
    client: PrefactorCoreClient,
    exp: Expectations,
    observer: Observer,
) -> None:
    h = await client.create_agent_instance(agent_version=AGENT_VERSION_2, purpose="eval")  # auto-deployment-<time>
    I = exp.instance(h, "delta", purpose="eval")
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)

    def at(seconds: int, micros: int) -> datetime:
        return base + timedelta(seconds=seconds, microseconds=micros)

    I.started_at = at(0, 123456)
    await h.start(timestamp=I.started_at)

    async with h.span("agent:llm") as s:
        t_s_start = at(10, 1)
        await s.start(llm("delta.root"), started_at=t_s_start)

        t_c_start, t_c_end = at(20, 654321), at(30, 999999)
        cid = await h.create_span("agent:tool", payload=tool("delta.create"), started_at=t_c_start)  # parent s
        await h.finish_span(cid, result_payload={"output": "delta"}, timestamp=t_c_end)
        I.span("create", cid, "agent:tool", s.id, "complete", tool("delta.create"), {"output": "delta"},
               started_at=t_c_start, finished_at=t_c_end)

        async with h.span("agent:step") as s3:  # parent s again (cid left the stack)
            t3_start, t3_end = at(40, 500000), at(41, 500001)
            await s3.start(step(3, "delta.step"), started_at=t3_start)
            async with h.span("agent:retrieval") as deep:  # level 3
                t4_start, t4_end = at(42, 42), at(43, 43)
                await deep.start(retrieval("delta.deep"), started_at=t4_start)
                await deep.complete({"documents": 0}, timestamp=t4_end)
            I.span("deep", deep.id, "agent:retrieval", s3.id, "complete", retrieval("delta.deep"), {"documents": 0},
                   started_at=t4_start, finished_at=t4_end)
            await s3.cancel(timestamp=t3_end)
        I.span("step_cancelled", s3.id, "agent:step", s.id, "cancelled", step(3, "delta.step"),
               started_at=t3_start, finished_at=t3_end)

        # Cancel before start with a past finish timestamp: the SDK creates the
        # span "now" (no started_at) and finishes it at t_cu, i.e. finished_at
        # precedes started_at on the server.
        t_cu = at(50, 5)
        async with h.span("agent:retrieval") as cu:
            await cu.cancel(timestamp=t_cu)
        I.span("cancel_unstarted", None, "agent:retrieval", s.id, "cancelled", {}, finished_at=t_cu, match_only=True)

        t_s_end = at(60, 6)
        await s.fail({"error": "delta gave up"}, timestamp=t_s_end)
    I.span("root", s.id, "agent:llm", None, "failed", llm("delta.root"), {"error": "delta gave up"},
           started_at=t_s_start, finished_at=t_s_end)

    # Quality set, observed, then removed with payload=None.
    await h.record_quality("accuracy", {"score": 0.25})
    await observer.wait_for(
        h.id, "show the accuracy quality payload",
        lambda inst: (inst.quality_payloads or {}).get("accuracy") == {"score": 0.25},
    )
    await h.record_quality("accuracy", None)
    await h.record_quality("helpfulness", {"rating": 1, "comment": "delta"})
    I.quality["helpfulness"] = {"rating": 1, "comment": "delta"}
    await observer.wait_for(
        h.id, "drop the accuracy quality payload",
        lambda inst: "accuracy" not in (inst.quality_payloads or {}),
    )

    I.finished_at = at(120, 120120)
    await h.finish("cancelled", timestamp=I.finished_at)
    I.status = "cancelled"


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


async def scenario(api_url: str, token: str, exp: Expectations) -> None:
    asyncio.get_running_loop().set_exception_handler(loop_exception_handler)
    registry = build_registry()
    queue: InMemoryQueue = InMemoryQueue()
    # max_retries=0: HTTP-level retries are silent, so a transient 5xx would
    # otherwise go unnoticed; without them any failure surfaces as a log
    # record or an exception.
    http_config = HttpClientConfig(api_url=api_url, api_token=token, max_retries=0)
    config = PrefactorCoreConfig(
        http_config=http_config,
        queue_config=QueueConfig(num_workers=3, max_retries=3),
        schema_registry=registry,
    )
    async with PrefactorHttpClient(HttpClientConfig(api_url=api_url, api_token=token, max_retries=0)) as http:
        observer = Observer(http)
        async with PrefactorCoreClient(config, queue=queue) as client:
            phases = [
                ("alpha+beta", [run_alpha(client, exp), run_beta(client, exp)]),
                ("gamma+delta", [run_gamma(client, exp, registry, queue, observer), run_delta(client, exp, observer)]),
            ]
            for name, coros in phases:
                results = await asyncio.gather(*coros, return_exceptions=True)
                for r in results:
                    if isinstance(r, BaseException):
                        COLLECTOR.add(f"exception in phase {name}:\n" + "".join(
                            traceback.format_exception(type(r), r, r.__traceback__)))
        # client.close() drained the queue (and would have raised a latched
        # PrefactorTelemetryFailureError).
        for inst in exp.instances:
            if inst.status in TERMINAL:
                await observer.wait_for(inst.id, f"reach {inst.status}", lambda i, s=inst.status: i.status == s, timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api-url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--expect-out", required=True)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    install_logging(args.verbose)
    exp = Expectations()
    started = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(scenario(args.api_url, args.token, exp), args.timeout))
    except BaseException as exc:  # noqa: BLE001 - every failure counts
        COLLECTOR.add("exception:\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    exp.self_check()
    with open(args.expect_out, "w", encoding="utf-8") as fh:
        json.dump(exp.to_json(), fh, indent=2, sort_keys=True)
        fh.write("\n")

    elapsed = time.monotonic() - started
    if COLLECTOR.problems:
        print(f"scenario: FAILED with {len(COLLECTOR.problems)} problem(s) after {elapsed:.1f}s:", file=sys.stderr)
        for p in COLLECTOR.problems:
            print("  - " + p.replace("\n", "\n    "), file=sys.stderr)
        return 1
    print(
        f"scenario: prefactor-core {CORE_VERSION} / prefactor-http {HTTP_VERSION}: "
        f"{len(exp.instances)} instances, {exp.span_count()} spans, 0 SDK errors ({elapsed:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
