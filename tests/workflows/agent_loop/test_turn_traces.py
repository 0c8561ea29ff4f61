"""One trace per turn: a message sent under a sampled trace gets its turn's `invoke_agent` span, and under it
the turn's activities, model calls (`chat`) and tool calls (`execute_tool`), with the GenAI attributes; the
next turn of the same conversation is a trace of its own. Spans are caught by an in-memory exporter on the
worker's own provider."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from temporalio.client import WorkflowHandle

from contracts.conversation import SubmitMessage
from contracts.names import ACT_MODEL_COMPLETE
from core.genai_tracing import current_carrier
from core.telemetry import configure_tracing
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import call, plan, start, turns_done
from workflows.conversation import ConversationWorkflow

MODEL = "scripted/agent"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """The process's provider, as a worker configures it (the default sampling rate), also hands its spans to
    memory for this test."""
    configure_tracing("aiaas-worker")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    caught = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(caught))
    yield caught
    caught.shutdown()  # the processor stays on the provider; a shut exporter takes nothing more


async def _send_in_sampled_trace(handle: WorkflowHandle, content: str) -> tuple[int, int]:
    """Send as a gateway request would under a caller's sampled `traceparent`; the trace and request span."""
    rng = random.Random()
    caller = SpanContext(rng.getrandbits(128), rng.getrandbits(64), True, TraceFlags(TraceFlags.SAMPLED))
    tracer = trace.get_tracer("tests.gateway")
    with tracer.start_as_current_span(
        "POST /v1/conversations/{id}/messages", trace.set_span_in_context(NonRecordingSpan(caller))
    ) as request:
        message = SubmitMessage(message_id=str(uuid.uuid4()), content=content, trace_carrier=current_carrier())
        await handle.execute_update(ConversationWorkflow.submit_message, message)
    return caller.trace_id, request.get_span_context().span_id


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names, parent = [], span.parent
    while parent is not None and parent.span_id in by_id:
        names.append(by_id[parent.span_id].name)
        parent = by_id[parent.span_id].parent
    return names


async def test_each_turn_is_one_trace_with_its_model_and_tool_spans(loop: Loop, exporter: InMemorySpanExporter) -> None:
    handle = await start(loop, "orders", loop.demo.ada_id)
    conversation_id = handle.id.rsplit(":", 1)[-1]
    first_trace, _ = await _send_in_sampled_trace(handle, plan(call("inventory.check", sku="SKU-MUG")))
    await turns_done(handle, 1)
    second_trace, _ = await _send_in_sampled_trace(handle, "thanks")
    await turns_done(handle, 2)

    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    in_trace = {t: [s for s in spans if s.context.trace_id == t] for t in (first_trace, second_trace)}

    # The turn: one `invoke_agent` span, the child of the request's span.
    [agent] = [s for s in in_trace[first_trace] if s.name == "invoke_agent orders"]
    attributes = dict(agent.attributes or {})
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.agent.name"] == "orders"
    assert attributes["gen_ai.agent.id"] == f"{loop.demo.tenant_id}/orders"
    assert attributes["gen_ai.conversation.id"] == conversation_id
    assert agent.end_time is not None and agent.start_time is not None and agent.end_time >= agent.start_time
    assert _ancestors(agent, by_id)[-1] == "POST /v1/conversations/{id}/messages"

    chats = [s for s in in_trace[first_trace] if s.name == f"chat {MODEL}"]
    # The planning step that asks for the tool, then the answer after its result.
    assert len(chats) == 2, [s.name for s in in_trace[first_trace]]
    for chat in chats:
        attributes = dict(chat.attributes or {})
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "scripted"
        assert attributes["gen_ai.request.model"] == attributes["gen_ai.response.model"] == MODEL
        assert attributes["gen_ai.agent.name"] == "orders"
        assert isinstance(attributes["gen_ai.usage.input_tokens"], int)
        assert isinstance(attributes["gen_ai.usage.output_tokens"], int)
        assert chat.kind == trace.SpanKind.CLIENT
        # Model call, its activity, the workflow's scheduling of it, the turn, the gateway's request: one tree.
        chain = _ancestors(chat, by_id)
        expected = [f"RunActivity:{ACT_MODEL_COMPLETE}", f"StartActivity:{ACT_MODEL_COMPLETE}", "invoke_agent orders"]
        assert chain[:3] == expected, chain
        assert chain[-1] == "POST /v1/conversations/{id}/messages"

    [tool] = [s for s in in_trace[first_trace] if s.name == "execute_tool inventory.check"]
    attributes = dict(tool.attributes or {})
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert attributes["gen_ai.tool.name"] == "inventory.check" and attributes["gen_ai.tool.type"] == "function"
    assert attributes["gen_ai.tool.call.id"]
    tool_chain = _ancestors(tool, by_id)
    assert "invoke_agent orders" in tool_chain and tool_chain[-1] == "POST /v1/conversations/{id}/messages"
    # No span carries what the customer wrote or what the tool was given.
    for span in in_trace[first_trace]:
        assert "SKU-MUG" not in repr(dict(span.attributes or {}))

    # The second turn is a trace of its own: its model call is there, not in the first turn's trace.
    assert [s.name for s in in_trace[second_trace] if s.name.startswith("chat ")] == [f"chat {MODEL}"]
    assert [s.name for s in in_trace[second_trace] if s.name.startswith("invoke_agent ")] == ["invoke_agent orders"]
    assert not {s.context.span_id for s in in_trace[second_trace]} & {s.context.span_id for s in in_trace[first_trace]}
