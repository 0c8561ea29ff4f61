"""Spans for model and tool calls after the OpenTelemetry GenAI semantic conventions, and trace ids in logs.

A model call is a `chat {model}` span (kind CLIENT) with `gen_ai.operation.name`, `gen_ai.provider.name`,
`gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens`/`output_tokens` and
`gen_ai.response.finish_reasons`; a tool call is an `execute_tool {tool}` span with `gen_ai.tool.name`,
`gen_ai.tool.call.id` and `gen_ai.tool.type`. Both sit under the activity's span (Temporal's tracing
interceptor), so they join the turn's trace. A span never carries message content or tool arguments: what a
customer typed stays out of traces whatever the tenant's privacy policy says.

Failures set `error.type` (the domain error's type, a bounded set) and the span's status.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

TRACER_NAME = "aiaas.genai"
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
ERROR_TYPE = "error.type"


def provider_of(model: str) -> str:
    """The provider a model name routes to: litellm's prefix (`mistral/...`, `scripted/...`), else OpenAI's
    bare names (`gpt-4o-mini`) and Anthropic's (`claude-...`)."""
    prefix, slash, _rest = model.partition("/")
    if slash:
        return prefix
    return "anthropic" if model.startswith("claude") else "openai"


@dataclass(slots=True)
class ChatSpan:
    span: Span

    def answered(self, *, model: str, input_tokens: int, output_tokens: int, finish_reason: str) -> None:
        self.span.set_attribute(RESPONSE_MODEL, model)
        self.span.set_attribute(INPUT_TOKENS, input_tokens)
        self.span.set_attribute(OUTPUT_TOKENS, output_tokens)
        if finish_reason:
            self.span.set_attribute(FINISH_REASONS, [finish_reason])


def _failed(span: Span, exc: BaseException) -> None:
    kind = getattr(exc, "type", None) or type(exc).__name__
    span.set_attribute(ERROR_TYPE, str(kind))
    span.set_status(Status(StatusCode.ERROR, str(kind)))


@contextmanager
def chat_span(model: str, *, agent: str, conversation_id: str) -> Iterator[ChatSpan]:
    """One model call; `answered` records what the provider said it used."""
    attributes: dict[str, Any] = {
        OPERATION: "chat",
        PROVIDER: provider_of(model),
        REQUEST_MODEL: model,
        AGENT_NAME: agent,
        CONVERSATION_ID: conversation_id,
    }
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        f"chat {model}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield ChatSpan(span)
        except Exception as exc:
            _failed(span, exc)
            raise


@contextmanager
def tool_span(tool: str, *, call_id: str, conversation_id: str) -> Iterator[Span]:
    """One tool call, from the policy checks to its result."""
    attributes: dict[str, Any] = {
        OPERATION: "execute_tool",
        TOOL_NAME: tool,
        TOOL_CALL_ID: call_id,
        TOOL_TYPE: "function",
        CONVERSATION_ID: conversation_id,
    }
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        f"execute_tool {tool}", attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except Exception as exc:
            _failed(span, exc)
            raise


def trace_ids_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog: the current trace and span ids on every line logged inside a span (sampled or not), so a log
    line leads to its trace and a trace to its log lines."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def current_carrier() -> dict[str, str] | None:
    """The current W3C trace context as headers (`traceparent`, `tracestate`), None outside any span."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {k: v for k, v in carrier.items() if k in ("traceparent", "tracestate")} or None
