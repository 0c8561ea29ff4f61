"""GenAI spans, trace ids in log lines, the W3C carrier a message takes along, and the OTLP export: a span
really reaches an OTLP/HTTP receiver as protobuf when an endpoint is configured."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from temporalio.exceptions import ApplicationError

from core.genai_tracing import chat_span, current_carrier, provider_of, tool_span, trace_ids_processor
from core.logging import redact_processor
from core.telemetry import span_exporters


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    provider, exporter = TracerProvider(), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer", provider.get_tracer)
    yield provider, exporter


def test_providers_are_named_after_the_model_names_prefix() -> None:
    assert provider_of("mistral/mistral-small-latest") == "mistral"
    assert provider_of("scripted/agent") == "scripted"
    assert provider_of("gpt-4o-mini") == "openai"
    assert provider_of("claude-3-5-haiku-20241022") == "anthropic"


def test_a_failed_model_call_says_which_error_and_a_tool_span_names_its_call(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    _provider, exporter = recorded
    with pytest.raises(ApplicationError), chat_span("scripted/agent", agent="support", conversation_id="c1"):
        raise ApplicationError("rate limited", type="ModelRateLimited")
    with tool_span("orders.lookup", call_id="call-7", conversation_id="c1"):
        pass
    failed, tool = exporter.get_finished_spans()
    assert failed.name == "chat scripted/agent" and failed.status.status_code == StatusCode.ERROR
    assert dict(failed.attributes or {})["error.type"] == "ModelRateLimited"
    assert "gen_ai.usage.input_tokens" not in dict(failed.attributes or {})
    assert tool.name == "execute_tool orders.lookup" and tool.status.status_code == StatusCode.UNSET
    assert dict(tool.attributes or {})["gen_ai.tool.call.id"] == "call-7"


def test_log_lines_inside_a_span_carry_its_ids_unredacted_and_outside_none(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, _exporter = recorded
    assert trace_ids_processor(None, "info", {"event": "outside"}) == {"event": "outside"}
    with provider.get_tracer("t").start_as_current_span("turn") as span:
        line = redact_processor(None, "info", trace_ids_processor(None, "info", {"event": "inside"}))
        carrier = current_carrier()
        assert carrier is not None and list(carrier) == ["traceparent"]
        assert carrier["traceparent"].startswith(f"00-{line['trace_id']}-{line['span_id']}-")
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x") and line["span_id"] == format(context.span_id, "016x")
    assert current_carrier() is None


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, format: str, *args: object) -> None:
        return


def test_spans_go_by_otlp_only_when_an_endpoint_is_configured() -> None:
    assert span_exporters({}) == []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        [exporter] = span_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
        assert isinstance(exporter, OTLPSpanExporter)
        # The exporter reads the standard variables itself; the one under test points it at the receiver.
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
        with provider.get_tracer("t").start_as_current_span(
            "chat scripted/agent", attributes={"gen_ai.operation.name": "chat"}
        ):
            pass
        provider.shutdown()
    finally:
        server.shutdown()
    [(path, content_type, body)] = _Receiver.bodies
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    [span] = [s for r in request.resource_spans for scope in r.scope_spans for s in scope.spans]
    assert span.name == "chat scripted/agent"
    assert {a.key: a.value.string_value for a in span.attributes} == {"gen_ai.operation.name": "chat"}
