"""Spans leave the process without raw personal values: names, attributes, events, exceptions and status."""

from __future__ import annotations

import json

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from core.telemetry import configure_tracing
from core.trace_redaction import RedactingSpanProcessor
from tests.core.pii.values import known_values

VALUES = known_values(60, seed=7)


def dump(spans: tuple[ReadableSpan, ...]) -> str:
    """Everything an exporter could send of these spans."""
    return json.dumps(
        [
            {
                "name": s.name,
                "attributes": dict(s.attributes or {}),
                "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in s.events],
                "status": s.status.description,
            }
            for s in spans
        ],
        default=str,
    )


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor())
    caught = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(caught))
    return provider, caught


def test_no_value_reaches_an_exporter_added_after_the_redactor() -> None:
    provider, caught = _provider()
    tracer = provider.get_tracer("tests")
    for kind, value in VALUES:
        try:
            with tracer.start_as_current_span(f"lookup {value}") as span:
                span.set_attribute("customer.contact", value)
                span.set_attribute("tool.arguments", [f"to={value}", "limit=5"])
                span.add_event("tool.result", {"text": f"found {value}", "rows": 3})
                span.set_status(Status(StatusCode.ERROR, f"no account for {value}"))
                raise LookupError(f"{kind} {value} is unknown")
        except LookupError:
            pass
    spans = caught.get_finished_spans()
    assert len(spans) == len(VALUES)
    dumped = dump(spans)
    assert [value for _kind, value in VALUES if value in dumped] == []
    # What is not personal survives: the shape of the span, counts, the exception's type.
    first = spans[0]
    assert first.name == "lookup [email]"
    assert first.attributes is not None and first.attributes["tool.arguments"] == ("to=[email]", "limit=5")
    assert any(e.name == "exception" and e.attributes["exception.type"] == "LookupError" for e in first.events)
    assert any(e.attributes.get("rows") == 3 for e in first.events if e.attributes)


def test_a_span_without_personal_data_is_exported_unchanged() -> None:
    provider, caught = _provider()
    with provider.get_tracer("tests").start_as_current_span("RunActivity:model.complete") as span:
        span.set_attribute("gen_ai.usage.input_tokens", 120)
        span.set_attribute("gen_ai.request.model", "scripted/agent")
        span.set_attribute("budget", "100.000000")
    (only,) = caught.get_finished_spans()
    assert only.name == "RunActivity:model.complete"
    assert dict(only.attributes or {}) == {
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.request.model": "scripted/agent",
        "budget": "100.000000",
    }


def test_the_platforms_provider_redacts_before_its_exporters() -> None:
    from opentelemetry import trace

    configure_tracing("aiaas-test")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    caught = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(caught))
    try:
        # Sampling is by trace id ratio; a forced-sampled parent makes the span recorded whatever the rate.
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

        parent = NonRecordingSpan(SpanContext(1, 2, True, TraceFlags(TraceFlags.SAMPLED)))
        with trace.get_tracer("tests").start_as_current_span("send", set_span_in_context(parent)) as span:
            span.set_attribute("to", VALUES[0][1])
        dumped = dump(caught.get_finished_spans())
        assert "send" in dumped and VALUES[0][1] not in dumped
    finally:
        caught.shutdown()
