"""A turn's trace when its run is dropped from the worker's cache mid-turn: the SDK closes the run's coroutines
outside the workflow's event loop and outside the context the turn attached, so closing must neither restore
that context nor read workflow time (both raised from the closed coroutine, printed as "Exception ignored" for
every evicted run). A turn that ends normally still restores the context and ends its span."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import workflow

from core.telemetry import configure_tracing
from workflows.turn_trace import in_trace

CARRIER = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


class _Clock:
    """Workflow time while the run is in its event loop; after eviction there is none."""

    def __init__(self) -> None:
        self.evicted = False
        self.now = 1_000_000_000

    def __call__(self) -> int:
        if self.evicted:
            raise RuntimeError("Not in workflow event loop")
        self.now += 1_000
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(workflow.unsafe, "is_replaying", lambda: False)
    monkeypatch.setattr(workflow, "time_ns", clock)
    return clock


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    configure_tracing("aiaas-worker")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    caught = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(caught))
    yield caught
    caught.shutdown()


def _turn(waiting: asyncio.Future[str]) -> tuple[contextvars.Context, Coroutine[Any, Any, str]]:
    """Start a turn in a context of its own, as the workflow's event loop runs it, up to its first wait."""
    turn = contextvars.Context()
    coro = in_trace(CARRIER, waiting, agent="support", agent_key="t/support", conversation_id="c1")
    assert turn.run(coro.send, None) is waiting  # suspended on the turn's work
    return turn, coro


def test_closing_an_evicted_turn_is_quiet_and_touches_nothing(clock: _Clock, exporter: InMemorySpanExporter) -> None:
    loop = asyncio.new_event_loop()
    try:
        waiting: asyncio.Future[str] = loop.create_future()
        _, coro = _turn(waiting)
        before = otel_context.get_current()
        clock.evicted = True
        coro.close()  # from outside the turn's context: no error, no time read
        assert otel_context.get_current() == before
        assert [s.name for s in exporter.get_finished_spans()] == []  # no span ended at a time that is not there
    finally:
        loop.close()


def test_a_turn_that_ends_restores_its_context_and_ends_its_span(clock: _Clock, exporter: InMemorySpanExporter) -> None:
    loop = asyncio.new_event_loop()
    try:
        waiting: asyncio.Future[str] = loop.create_future()
        turn, coro = _turn(waiting)
        inside = turn.run(otel_context.get_current)
        assert trace.get_current_span(inside).get_span_context().trace_id == int(CARRIER["traceparent"][3:35], 16)
        waiting.set_result("answered")
        with pytest.raises(StopIteration) as done:
            turn.run(coro.send, None)
        assert done.value.value == "answered"
        assert turn.run(otel_context.get_current) == {}  # the attached context is gone again
        [span] = [s for s in exporter.get_finished_spans() if s.name == "invoke_agent support"]
        assert span.end_time == clock.now
    finally:
        loop.close()
