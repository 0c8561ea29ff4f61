"""Each turn in the trace of the request that sent its message.

A conversation is one long workflow run; Temporal's tracing interceptor puts everything it schedules under the
span of the request that started it, so without this the tenth turn's model call would sit in the first
turn's trace. The message carries its request's W3C trace context (`SubmitMessage.trace_carrier`); the turn
runs with that context attached, so the spans of its activities (and their `chat` and `execute_tool` spans)
join the request's trace, sampled or not as the request was.

Nothing here reaches workflow history: span context only travels in activity headers, which replay does not
compare, and spans are only made when the workflow is not replaying.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate

T = TypeVar("T")


async def in_trace(carrier: Mapping[str, str] | None, work: Awaitable[T]) -> T:
    """Await `work` with the carrier's trace context current (the context's other entries kept)."""
    if not carrier:
        return await work
    token = otel_context.attach(propagate.extract(dict(carrier), context=otel_context.get_current()))
    try:
        return await work
    finally:
        otel_context.detach(token)
