"""1,000 known personal values through whole conversations on the worker's real activities: tool calls that
take them as arguments, a model fallback (the routed tier is rate limited, echo answers), a refund saga whose
reason carries them (one above the bar a person approves), and a turn whose model fails. Under the default
policy none of them is in a span the process exports, in an event of the streams other than the answer itself,
in the export of the runs' histories (what replay datasets are built from), or in what SQL reads of the
transcripts, tool calls, approvals, orders and audit events at rest."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from redis.asyncio import Redis
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHandle

from contracts.agents import ApprovalDecisionKind
from core.events import EventBus
from core.settings import Settings
from core.telemetry import configure_tracing
from db.codec import build_codec
from db.database import run_sql
from policies.circuit_breaker import CircuitBreaker
from policies.event_privacy import ANSWER_EVENTS
from policies.export_privacy import ExportCodec, ExportRedaction
from policies.privacy import PrivacyPolicies
from router.health import PROVIDERS
from tests.core.pii.values import known_values
from tests.core.test_trace_redaction import dump
from tests.e2e.platform import apply_migrations
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import call, decide, plan, send, start, until

VALUES = known_values(1000, seed=1818)
PER_MESSAGE = 50


@pytest.fixture(scope="module")
def migrated(settings: Settings) -> Iterator[Settings]:
    """`orders` plans tool calls, `broken` always fails, every other agent is routed to a rate-limited tier
    that falls back to echo."""
    apply_migrations(settings)
    yield settings.model_copy(
        update={
            "agent_models": json.dumps({"orders": "scripted/agent", "broken": "scripted/error-400"}),
            "model_small": "scripted/error-429",
            "model_large": None,
            "router_fallbacks": json.dumps({"small": ["scripted/echo"], "large": ["scripted/echo"]}),
        }
    )


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """The process's provider, as a worker configures it. It is installed once per process, so an earlier test
    may have set its sampling rate (the default); the conversations run in `_sampled_trace` to be recorded."""
    configure_tracing("aiaas-worker")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    caught = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(caught))
    yield caught
    caught.shutdown()


@contextmanager
def _sampled_trace() -> Iterator[None]:
    """Within a trace a caller sampled (as a gateway request under a sampled `traceparent`): the runs started
    here and everything they do follow that decision, so every span is recorded whatever the provider's rate."""
    rng = random.Random()
    caller = SpanContext(rng.getrandbits(128), rng.getrandbits(64), True, TraceFlags(TraceFlags.SAMPLED))
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(caller)))
    try:
        yield
    finally:
        otel_context.detach(token)


def _messages(values: list[str], tool: bool) -> Iterator[str]:
    for start_at in range(0, len(values), PER_MESSAGE):
        chunk = values[start_at : start_at + PER_MESSAGE]
        text = "My details: " + "; ".join(chunk)
        yield text + "\n" + plan(call("inventory.check", sku=chunk[0]), {"say": "checked"}) if tool else text


async def _finished(handle: WorkflowHandle, turns: int) -> None:
    """Every message taken and answered (`turns` answered), or, for a failing model, no turn left running."""
    await until(
        handle,
        lambda s: s.turns_completed >= turns and s.current_message_id is None and not s.pending_message_ids,
    )


async def _exported(migrated: Settings, loop: Loop, handles: list[WorkflowHandle]) -> str:
    codec = ExportCodec(build_codec(migrated, loop.db), ExportRedaction(PrivacyPolicies(loop.db, cache_seconds=0)))
    payloads: list[Payload] = []
    for handle in handles:
        history = await handle.fetch_history()
        for event in history.events:
            for field in (
                "workflow_execution_started_event_attributes",
                "activity_task_scheduled_event_attributes",
                "activity_task_completed_event_attributes",
                "workflow_execution_update_accepted_event_attributes",
            ):
                if event.HasField(field):
                    payloads.extend(_payloads_of(getattr(event, field)))
    decoded = await codec.decode(payloads)
    return " ".join(p.data.decode(errors="replace") for p in decoded)


def _payloads_of(attributes: object) -> list[Payload]:
    found: list[Payload] = []
    for name in ("input", "result"):
        holder = getattr(attributes, name, None)
        if holder is not None and hasattr(holder, "payloads"):
            found.extend(holder.payloads)
    accepted = getattr(attributes, "accepted_request", None)
    if accepted is not None:
        found.extend(accepted.input.args.payloads)
    return found


async def _refund_saga(loop: Loop, values: list[str]) -> WorkflowHandle:
    """Two refunds of Ada's order whose reasons carry `values`: one above the approval bar (a person approves it,
    then the refund saga runs its steps), one below it."""
    handle = await start(loop, "orders", loop.demo.ada_id)
    order = loop.demo.ada_placed_order_id
    for index, (amount, chunk) in enumerate(((10_500, values[:25]), (100, values[25:]))):
        # A reason of at most 500 characters (the saga's limit): fifteen values of at most 33 each.
        refund = call("orders.refund", order_id=order, amount_cents=amount, reason="; ".join(chunk[:15]))
        await send(handle, "My details: " + "; ".join(chunk) + "\n" + plan(refund, {"say": "refunded"}))
        if index == 0:
            waiting = await until(handle, lambda s: bool(s.pending_approvals))
            await decide(handle, waiting.pending_approvals[0], ApprovalDecisionKind.APPROVE)
            await until(handle, lambda s: s.turns_completed >= 1 and s.current_message_id is None)
    return handle


async def _stored_rows(loop: Loop) -> str:
    async with loop.db.tenant_session(loop.tenant_id) as session:
        found = [
            str((await run_sql(session, f"SELECT string_agg(r::text, '|') FROM {table} r")).scalar_one() or "")  # noqa: S608
            for table in (
                "messages",
                "tool_calls",
                "approvals",
                "tickets",
                "leads",
                "sandbox_crm_contacts",
                "orders",
                # The approval's arguments in `approval.requested`: sealed, the chain hashing the ciphertext.
                "audit.events",
            )
        ]
    return "|".join(found)


async def test_values_stay_out_of_traces_events_and_exports(
    loop: Loop, migrated: Settings, exporter: InMemorySpanExporter
) -> None:
    redis = Redis.from_url(migrated.redis_url or "")
    try:
        await CircuitBreaker(redis).reset(PROVIDERS, "scripted/error-429")
        values = [v for _k, v in VALUES]
        with _sampled_trace():
            tools = await start(loop, "orders", loop.demo.ada_id)
            for text in _messages(values[:500], tool=True):
                await send(tools, text)
            fallback = await start(loop, "leads", None)
            for text in _messages(values[500:900], tool=False):
                await send(fallback, text)
            saga = await _refund_saga(loop, values[900:950])
            failing = await start(loop, "broken", None)
            await send(failing, "My details: " + "; ".join(values[950:]))
        await _finished(tools, 10)
        await _finished(fallback, 8)
        await _finished(saga, 2)
        await _finished(failing, 0)

        spans = dump(exporter.get_finished_spans())
        assert "execute_tool inventory.check" in spans
        assert [v for v in values if v in spans] == []

        bus = EventBus(redis)
        events = []
        for handle in (tools, fallback, saga, failing):
            events.extend(await bus.history(loop.tenant_id, handle.id.split(":conv:")[1]))
        kinds = {e.type for e in events}
        assert {"tool.completed", "model.fallback", "turn.failed", "approval.requested", "approval.resolved"} <= kinds
        assert "orders.refund" in {e.data.get("tool") for e in events if e.type == "tool.completed"}
        stored = " ".join(json.dumps(e.data) for e in events if e.type not in ANSWER_EVENTS)
        assert [v for v in values if v in stored] == []

        exported = await _exported(migrated, loop, [tools, fallback, saga, failing])
        assert "My details:" in exported
        assert [v for v in values if v in exported] == []

        # At rest: what SQL reads of transcripts, tool calls and the approval holds none of them (sealed).
        stored_rows = await _stored_rows(loop)
        assert "orders.refund" in stored_rows and "approval.requested" in stored_rows
        assert [v for v in values if v in stored_rows] == []
    finally:
        await redis.aclose()
