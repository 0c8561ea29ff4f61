"""The side effects of `CanaryWorkflow`: apply the canary, compare its arms, and promote or roll it back.

`begin` sets the router's canary (model and share) for the tenant; `evaluate` reads both arms' records since
the canary began, applies the rule (`router.canary_rule.compare`) and stores what it found on the canary;
`finish` closes the canary and, in the same transaction, makes its model the tenant's model for its tier
(promoted) or ends the router's canary (rolled back), with an audit record; then it announces
`canary.promoted` or `canary.rolled_back` on the tenant's operations stream (deduplicated, so a retry announces
nothing twice) and counts the outcome. Every step may run twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import Counter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.canary import (
    CanaryDecision,
    CanaryEvaluateInput,
    CanaryFinishInput,
    CanaryRef,
    CanaryStatus,
    CanaryVerdict,
)
from contracts.events import EventType
from contracts.names import ACT_CANARY_BEGIN, ACT_CANARY_EVALUATE, ACT_CANARY_FINISH
from core.events import EventBus
from db.database import Database
from router import canary_store, settings_store
from router.canary_rule import compare
from router.canary_store import StoredCanary
from tenancy.audit import record_event_once

log = structlog.get_logger("aiaas.router.canary")

OPERATIONS_STREAM = "_operations"
CANARY_CHECKS = Counter("aiaas_canary_checks_total", "Router canary checks, by decision", ["decision"])
CANARY_OUTCOMES = Counter("aiaas_canary_outcomes_total", "Router canaries ended, by outcome", ["outcome"])


def _missing(canary_id: str) -> ApplicationError:
    return ApplicationError(f"router canary {canary_id} not found", type="CanaryNotFound", non_retryable=True)


class CanaryActivities:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    async def _load(self, tenant_id: str, canary_id: str) -> StoredCanary:
        async with self._db.tenant_session(tenant_id) as session:
            found = await canary_store.get(session, tenant_id, canary_id)
        if found is None:
            raise _missing(canary_id)
        return found

    @activity.defn(name=ACT_CANARY_BEGIN)
    async def begin(self, inp: CanaryRef) -> None:
        canary = await self._load(inp.tenant_id, inp.canary_id)
        if canary.status not in (CanaryStatus.RUNNING, CanaryStatus.AWAITING_APPROVAL):
            return
        async with self._db.tenant_session(inp.tenant_id) as session:
            await settings_store.set_canary(session, inp.tenant_id, canary.model, canary.share)

    @activity.defn(name=ACT_CANARY_EVALUATE)
    async def evaluate(self, inp: CanaryEvaluateInput) -> CanaryVerdict:
        canary = await self._load(inp.tenant_id, inp.canary_id)
        async with self._db.tenant_session(inp.tenant_id) as session:
            treated, control = await canary_store.arms(session, canary)
        verdict = compare(treated, control, canary.rule, inp.planned_looks)
        waiting = verdict.decision == CanaryDecision.PROMOTE and canary.require_approval
        status = CanaryStatus.AWAITING_APPROVAL if waiting else CanaryStatus.RUNNING
        async with self._db.tenant_session(inp.tenant_id) as session:
            await canary_store.record_check(session, inp.canary_id, verdict, status)
        CANARY_CHECKS.labels(decision=verdict.decision.value).inc()
        log.info("canary checked", tenant_id=inp.tenant_id, canary_id=inp.canary_id, decision=verdict.decision.value)
        return verdict

    @activity.defn(name=ACT_CANARY_FINISH)
    async def finish(self, inp: CanaryFinishInput) -> CanaryStatus:
        canary = await self._load(inp.tenant_id, inp.canary_id)
        status = CanaryStatus.PROMOTED if inp.promote else CanaryStatus.ROLLED_BACK
        async with self._db.tenant_session(inp.tenant_id) as session:
            closed = await canary_store.finish(session, inp.canary_id, status, inp.reason, inp.actor)
            if closed:
                if inp.promote:
                    await settings_store.promote_canary(session, inp.tenant_id, canary.tier, canary.model)
                else:
                    await settings_store.end_canary(session, inp.tenant_id, canary.model)
                await record_event_once(
                    session,
                    idempotency_key=f"router-canary:{inp.canary_id}",
                    tenant_id=inp.tenant_id,
                    actor=inp.actor,
                    action=f"router.canary_{status.value}",
                    target=f"router_canary:{inp.canary_id}",
                    details={"model": canary.model, "tier": canary.tier, "share": canary.share, "reason": inp.reason},
                )
        if not closed:
            # Closed by an earlier attempt: report what it decided, announce again (deduplicated).
            status = (await self._load(inp.tenant_id, inp.canary_id)).status
        else:
            CANARY_OUTCOMES.labels(outcome=status.value).inc()
        event = EventType.CANARY_PROMOTED if status == CanaryStatus.PROMOTED else EventType.CANARY_ROLLED_BACK
        await self._bus.publish(
            inp.tenant_id,
            OPERATIONS_STREAM,
            event,
            {"canary_id": inp.canary_id, "model": canary.model, "tier": canary.tier, "reason": inp.reason},
            dedup_key=f"router-canary:{inp.canary_id}",
        )
        log.info("canary finished", tenant_id=inp.tenant_id, canary_id=inp.canary_id, status=status.value)
        return status

    def all(self) -> list[Callable[..., Any]]:
        return [self.begin, self.evaluate, self.finish]
