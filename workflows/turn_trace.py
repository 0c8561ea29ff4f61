"""Each turn in the trace of the request that sent its message, under an `invoke_agent` span.

A conversation is one long workflow run; Temporal's tracing interceptor puts everything it schedules under the
span of the request that started it, so without this the tenth turn's model call would sit in the first
turn's trace. The message carries its request's W3C trace context (`SubmitMessage.trace_carrier`); the turn
runs with that context attached, so the spans of its activities (and their `chat` and `execute_tool` spans)
join the request's trace, sampled or not as the request was.

Within that trace the turn is one `invoke_agent {agent}` span (OpenTelemetry GenAI conventions:
`gen_ai.operation.name`, `gen_ai.agent.name`, `gen_ai.agent.id`, `gen_ai.conversation.id`), the parent of the
turn's activities and so of its `chat` and `execute_tool` spans. It starts and ends at the workflow's own
clock (`workflow.time_ns()`, the times of the workflow tasks that began and finished the turn), so its
duration is the turn's as the workflow saw it.

Nothing here reaches workflow history: span context only travels in activity headers, which replay does not
compare, and the span is only made when the workflow is not replaying. A worker that picks a conversation up
in the middle of a turn (its cache lost it) replays the turn's start, so that turn has no `invoke_agent` span:
the rest of its activities sit directly under the request's span, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from contextvars import Token
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from temporalio import workflow

T = TypeVar("T")

TRACER_NAME = "aiaas.genai"
# The GenAI semantic conventions' names (core.genai_tracing has the same; workflows may not import core).
OPERATION = "gen_ai.operation.name"
AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
CONVERSATION_ID = "gen_ai.conversation.id"
ERROR_TYPE = "error.type"


def agent_id(tenant_id: str, agent: str) -> str:
    """An agent's identity on the platform: its name is unique within its tenant."""
    return f"{tenant_id}/{agent}"


def _start_invoke_agent(parent: otel_context.Context, agent: str, agent_key: str, conversation_id: str) -> Span | None:
    if workflow.unsafe.is_replaying() or not trace.get_current_span(parent).get_span_context().is_valid:
        return None
    attributes = {OPERATION: "invoke_agent", AGENT_NAME: agent, AGENT_ID: agent_key, CONVERSATION_ID: conversation_id}
    with workflow.unsafe.sandbox_unrestricted():
        return trace.get_tracer(TRACER_NAME).start_span(
            f"invoke_agent {agent}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=workflow.time_ns(),
        )


async def in_trace(
    carrier: Mapping[str, str] | None,
    work: Awaitable[T],
    *,
    agent: str,
    agent_key: str,
    conversation_id: str,
) -> T:
    """Await `work` with the carrier's trace context current (the context's other entries kept), under an
    `invoke_agent` span when there is a trace to join and the workflow is not replaying."""
    current = otel_context.get_current()
    parent = propagate.extract(dict(carrier), context=current) if carrier else current
    span = _start_invoke_agent(parent, agent, agent_key, conversation_id)
    if span is None and not carrier:
        return await work
    token = otel_context.attach(trace.set_span_in_context(span, parent) if span is not None else parent)
    try:
        result = await work
    except GeneratorExit:
        # The run was dropped from the worker's cache and its coroutine is being closed, outside the workflow's
        # event loop and the context the token belongs to: there is no workflow time to end the span at and no
        # context to restore. The run resumes by replay, which opens no span.
        raise
    except BaseException as exc:
        if span is not None:
            kind = getattr(exc, "type", None) or type(exc).__name__
            span.set_attribute(ERROR_TYPE, str(kind))
            span.set_status(Status(StatusCode.ERROR, str(kind)))
        _leave(token, span)
        raise
    _leave(token, span)
    return result


def _leave(token: Token[otel_context.Context], span: Span | None) -> None:
    """Restore the context the turn ran in and end its span at workflow time."""
    otel_context.detach(token)
    if span is not None:
        with workflow.unsafe.sandbox_unrestricted():
            span.end(end_time=workflow.time_ns())
