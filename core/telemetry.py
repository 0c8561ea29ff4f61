"""Metrics (prometheus-client) and traces (OpenTelemetry) shared by the gateway and the workers.

Label values are bounded sets (event types, outcomes, policies), never conversation ids. A `tenant` label
goes through `core.metric_labels.tenant_label`, which bounds the tenants a process labels one by one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased
from prometheus_client import Counter, Histogram

from core.trace_redaction import RedactingSpanProcessor

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HTTP_REQUESTS = Counter("aiaas_http_requests_total", "Gateway requests", ["route", "method", "status"])
HTTP_SECONDS = Histogram("aiaas_http_request_seconds", "Gateway request latency", ["route"], buckets=_LATENCY_BUCKETS)
MODEL_CALL_SECONDS = Histogram("aiaas_model_call_seconds", "Model call duration", ["outcome"], buckets=_LATENCY_BUCKETS)
TURNS_FINISHED = Counter("aiaas_turns_finished_total", "Conversation turns finished", ["outcome", "tenant"])
# From the recorded question to the recorded answer, once per answered turn; the latency SLO is read off the
# `le="10"` bucket (infra/prometheus/slo-rules.yaml), so 10 stays a bucket boundary.
TURN_SECONDS = Histogram(
    "aiaas_turn_seconds",
    "Answered turns: seconds from the recorded question to the recorded answer",
    ["tenant"],
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
STREAM_CONNECTIONS = Counter("aiaas_stream_connections_total", "Event stream connections opened", ["transport"])
WS_DROPPED = Counter("aiaas_ws_dropped_events_total", "Events dropped by a WebSocket queue", ["policy"])
WS_DISCONNECTED_SLOW = Counter("aiaas_ws_slow_disconnects_total", "WebSocket connections closed for falling behind")
# Agent turns cut by loop safety, by reason (the `CutReason` values: a fixed set).
LOOP_CUT_TOTAL = Counter("loop_cut_total", "Agent turns cut by loop safety", ["reason"])
# Cost control: settled spend by plan and tenant, settled tokens by kind (prompt/completion), model
# (configured models and price patterns only, the rest as "other") and tenant, and budget thresholds crossed.
TENANT_COST_USD = Counter("aiaas_tenant_cost_usd_total", "Settled spend in USD", ["plan", "tenant"])
MODEL_TOKENS = Counter("aiaas_model_tokens_total", "Settled model tokens", ["kind", "model", "tenant"])
# Provenance policy decisions on tool calls, by verdict (allow/confirm/refuse) and tool (registered names only).
TOOL_POLICY_DECISIONS = Counter(
    "aiaas_tool_policy_decisions_total", "Provenance policy decisions on tool calls", ["verdict", "tool"]
)
BUDGET_THRESHOLDS = Counter("aiaas_budget_thresholds_total", "Budget thresholds crossed", ["period", "percent"])

_configured = False


def sampler(rate: float) -> Sampler:
    """Parent-based ratio sampling: a trace is recorded whole or not at all. A span with a parent (a
    workflow's, an activity's, a request carrying `traceparent`) follows its parent's decision; a new trace
    is recorded at `rate`. A caller that samples its own trace gets it recorded through every process."""
    return ParentBased(root=TraceIdRatioBased(rate))


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """False under OpenTelemetry's own switch `OTEL_SDK_DISABLED=true`: then no provider is installed and
    neither requests nor Temporal calls are instrumented (what `python -m benchmarks tracing` compares with)."""
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def configure_tracing(service_name: str, sample_rate: float | None = None) -> None:
    """Install a tracer provider once per process, exporting to what `span_exporters` finds configured.
    The rate defaults to `AIAAS_TRACE_SAMPLE_RATE` (`Settings.trace_sample_rate`)."""
    global _configured
    if _configured or not tracing_enabled():
        return
    if sample_rate is None:
        from core.settings import get_settings

        sample_rate = get_settings().trace_sample_rate
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}), sampler=sampler(sample_rate))
    # First, so that every processor and exporter added after it reads spans without personal values.
    provider.add_span_processor(RedactingSpanProcessor())
    for exporter in span_exporters(os.environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True


def span_exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    """Where finished spans go: OTLP over HTTP when an OTLP endpoint is configured (the exporter reads the
    standard `OTEL_EXPORTER_OTLP_*` variables itself: endpoint, headers, timeout), stdout when
    `AIAAS_TRACE_CONSOLE=1`; nowhere otherwise (spans are still made, so trace ids reach the logs)."""
    exporters: list[SpanExporter] = []
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter())
    if environ.get("AIAAS_TRACE_CONSOLE") == "1":
        exporters.append(ConsoleSpanExporter())
    return exporters
