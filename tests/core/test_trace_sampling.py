"""Parent-based ratio sampling: a new trace is recorded at the configured rate, a child follows its parent."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.telemetry import sampler


def _provider(rate: float) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler(rate))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_rate_one_records_every_trace_and_rate_zero_none() -> None:
    everything, recorded = _provider(1.0)
    nothing, dropped = _provider(0.0)
    for _ in range(50):
        with everything.get_tracer("t").start_as_current_span("turn"):
            pass
        with nothing.get_tracer("t").start_as_current_span("turn"):
            pass
    assert len(recorded.get_finished_spans()) == 50
    assert dropped.get_finished_spans() == ()


def test_a_low_rate_keeps_about_that_share_of_new_traces() -> None:
    provider, exporter = _provider(0.1)
    for _ in range(2000):
        with provider.get_tracer("t").start_as_current_span("turn"):
            pass
    assert 100 <= len(exporter.get_finished_spans()) <= 320


def test_children_follow_their_parent_so_a_trace_is_whole_or_absent() -> None:
    provider, exporter = _provider(0.5)
    tracer = provider.get_tracer("t")
    for _ in range(200):
        with tracer.start_as_current_span("turn"), tracer.start_as_current_span("model call"):
            pass
    spans = exporter.get_finished_spans()
    by_trace: dict[int, set[str]] = {}
    for span in spans:
        by_trace.setdefault(span.context.trace_id, set()).add(span.name)
    assert 0 < len(by_trace) < 200
    assert all(names == {"turn", "model call"} for names in by_trace.values())
