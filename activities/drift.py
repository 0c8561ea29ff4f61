"""The side effects of `NightlyDriftWorkflow`: which tenants to analyse, and one tenant's night.

`analyse_tenant` reads the tenant's turn facts under its own row-level security binding (the baseline's
finished days from their stored facts, the rest from the raw rows, storing each finished day read raw:
`policies.drift.days`), runs the pure
detector (`policies.drift.detector.analyse`) off the event loop, stores the report (one per tenant and night,
so a retry rewrites the same row) and, when it found drift, announces `drift.detected` on the tenant's
operations stream with a dedup key, so a retry announces nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter, Histogram
from temporalio import activity

from contracts.drift import AnalyseTenantInput, AnalyseTenantResult, ListTenantsInput, ListTenantsResult
from contracts.events import EventType
from contracts.names import ACT_DRIFT_ANALYSE_TENANT, ACT_DRIFT_LIST_TENANTS
from core.events import EventBus
from db.database import Database
from policies.drift.days import night_facts
from policies.drift.detector import DriftAnalysis, analyse
from policies.drift.store import costs_json, save_report
from tenancy.lifecycle import TenantStatus
from tenancy.tenant_admin import list_tenants

log = structlog.get_logger("aiaas.drift")

# The tenant's stream for events about the tenant as a whole rather than one conversation.
OPERATIONS_STREAM = "_operations"
DRIFT_FINDINGS = Counter("aiaas_drift_findings_total", "Drift findings of nightly runs", ["metric"])
DRIFT_TENANTS = Counter("aiaas_drift_tenants_total", "Tenants analysed by nightly drift runs", ["outcome"])
# Baseline days read from stored day facts, and days read from the raw rows (the night itself included).
DRIFT_DAYS = Counter("aiaas_drift_days_total", "Days of turn facts read by nightly drift runs", ["source"])
# Where a tenant's night goes: reading its facts, the tests, storing the report, announcing drift.
DRIFT_PHASES = ("read", "analyse", "write", "event")
DRIFT_PHASE_SECONDS = Histogram(
    "aiaas_drift_phase_seconds",
    "Seconds per tenant in each phase of a nightly drift analysis",
    ["phase"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


@contextmanager
def _phase(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        DRIFT_PHASE_SECONDS.labels(phase=name).observe(time.perf_counter() - started)


class DriftActivities:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    @activity.defn(name=ACT_DRIFT_LIST_TENANTS)
    async def list_tenants(self, inp: ListTenantsInput) -> ListTenantsResult:
        page = await list_tenants(self._db, status=TenantStatus.ACTIVE, cursor=inp.cursor, limit=inp.limit)
        return ListTenantsResult(tenant_ids=[t.id for t in page.items], next_cursor=page.next_cursor)

    @activity.defn(name=ACT_DRIFT_ANALYSE_TENANT)
    async def analyse_tenant(self, inp: AnalyseTenantInput) -> AnalyseTenantResult:
        with _phase("read"):
            async with self._db.tenant_session(inp.tenant_id) as session:
                facts = await night_facts(session, inp.tenant_id, inp.night, inp.baseline_days, datetime.now(UTC))
        DRIFT_DAYS.labels(source="stored").inc(facts.stored_days)
        DRIFT_DAYS.labels(source="raw").inc(facts.raw_days)
        baseline, current, days = facts.baseline, facts.current, facts.days
        # Seconds of numpy and scipy for a large tenant: off the loop, so heartbeats and other work go on.
        with _phase("analyse"):
            result = await asyncio.to_thread(analyse, baseline, max(days, 1), current)
        workflow_id = activity.info().workflow_id or ""
        with _phase("write"):
            async with self._db.tenant_session(inp.tenant_id) as session:
                stored = await save_report(session, inp.tenant_id, inp.night, max(days, 1), result, workflow_id)
        DRIFT_TENANTS.labels(outcome="drift" if result.detected else "clean").inc()
        if result.detected:
            for finding in result.findings:
                DRIFT_FINDINGS.labels(metric=finding.metric).inc()
            with _phase("event"):
                await self._publish(inp, stored.id, result)
            log.info("drift detected", tenant_id=inp.tenant_id, night=str(inp.night), findings=len(result.findings))
        return AnalyseTenantResult(
            tenant_id=inp.tenant_id,
            report_id=stored.id,
            detected=result.detected,
            findings=len(result.findings),
            advice=len(result.advice),
        )

    async def _publish(self, inp: AnalyseTenantInput, report_id: str, result: DriftAnalysis) -> None:
        await self._bus.publish(
            inp.tenant_id,
            OPERATIONS_STREAM,
            EventType.DRIFT_DETECTED,
            {
                "report_id": report_id,
                "night": inp.night.isoformat(),
                "findings": [f"{f.metric}:{f.agent}:{f.model}" for f in result.findings],
                "costs": costs_json(result),
                "advice": len(result.advice),
            },
            dedup_key=f"drift:{inp.night.isoformat()}",
        )
