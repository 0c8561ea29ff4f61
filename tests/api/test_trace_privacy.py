"""Request spans keep the shape of a query and lose its personal values."""

from __future__ import annotations

import json

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.trace_privacy import redact_query, redact_request_span


def test_query_values_are_redacted_and_the_rest_stays() -> None:
    url = "http://gw/v1/customers?email=ada%40example.com&limit=50&phone=%2B1+415+555+0100"
    assert redact_query(url) == "http://gw/v1/customers?email=[email]&limit=50&phone=[phone]"
    assert redact_query("email=ada@example.com&cursor=abc") == "email=[email]&cursor=abc"
    assert redact_query("/v1/conversations") == "/v1/conversations"


async def test_a_request_span_never_holds_the_raw_value() -> None:
    app = FastAPI()

    @app.get("/v1/customers")
    async def customers(email: str = "") -> dict[str, str]:
        return {"ok": "yes"}

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, server_request_hook=redact_request_span)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        answer = await client.get("/v1/customers", params={"email": "ada@example.com", "limit": "5"})
    assert answer.status_code == 200
    spans = exporter.get_finished_spans()
    dumped = json.dumps([dict(span.attributes or {}) for span in spans])
    assert spans and "ada" not in dumped and "example.com" not in dumped
    assert "[email]" in dumped and "limit=5" in dumped
