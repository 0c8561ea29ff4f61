"""Traces never carry a raw personal value: span names, attributes, events (an exception's message and
stack included) and the status description pass the log redaction (`core.redaction`) before any exporter
sees them.

`RedactingSpanProcessor` is the first processor of every provider `core.telemetry` configures. The SDK hands
one finished span to its processors in the order they were added, so whatever is added after it (the OTLP
exporter, the console, a test's in-memory exporter) reads the redacted span. Strings inside attribute
sequences are redacted one by one; numbers and booleans pass as they are. A value that held nothing to
redact is left the very same object, so a span without personal data costs one scan of its strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status

from core.redaction import redact_text

__all__ = ["RedactingSpanProcessor", "redact_attributes", "redact_span"]


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        redacted = [_value(v) for v in value]
        return tuple(redacted) if redacted != list(value) else value
    return value


def redact_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The same keys, every string value redacted; None stays None."""
    if attributes is None:
        return None
    return {key: _value(value) for key, value in attributes.items()}


def redact_span(span: ReadableSpan) -> None:
    """Redact a finished span in place, before it is exported."""
    # The SDK's ReadableSpan has no setters: a finished span is read-only by design, except for the
    # processors that see it first, which is where this runs.
    span._name = redact_text(span.name)
    span._attributes = redact_attributes(span.attributes)
    span._events = tuple(Event(redact_text(e.name), redact_attributes(e.attributes), e.timestamp) for e in span.events)
    status = span.status
    if status.description:
        span._status = Status(status.status_code, redact_text(status.description))


class RedactingSpanProcessor(SpanProcessor):
    """Redacts each finished span before the processors added after it export it."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        redact_span(span)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
