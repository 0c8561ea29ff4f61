"""The side effects of `CanaryWorkflow`: apply the canary, compare its arms, and promote or roll it back.

`begin` sets the router's canary for the tenant (a model's `canary_model` and share, an agent version's or a
threshold's `canary_subject`); `evaluate` reads both arms' records since the canary began, applies the rule
(`router.canary_rule.compare`) and stores what it found on the canary; `finish` closes the canary and, in the
same transaction, promotes what it tried (a model becomes the tenant's model for its tier; an agent version
becomes the active one through `agents.activation`, the path a roll back in the console takes, audited as
`agent.saved`; a threshold becomes the tenant's) or ends the router's canary (rolled back), with an audit
record. A candidate agent version that no longer validates (a tool since removed) is rolled back instead
of promoted. Then it announces
`canary.promoted` or `canary.rolled_back` on the tenant's operations stream (deduplicated, so a retry announces
nothing twice) and counts the outcome. Every step may run twice.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import structlog
from prometheus_client import Counter
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.activation import activate_version
from agents.definitions import AgentNotFound
from agents.sdk import ToolRegistry
from agents.validation import AgentInvalid
from contracts.canary import (
    AgentVersionSubject,
    CanaryDecision,
    CanaryEvaluateInput,
    CanaryFinishInput,
    CanaryRef,
    CanaryStatus,
    CanaryVerdict,
    ModelSubject,
)
from contracts.events import EventType
from contracts.names import ACT_CANARY_BEGIN, ACT_CANARY_EVALUATE, ACT_CANARY_FINISH
from core.events import EventBus
from db.database import Database
from router import canary_store, settings_store
from router.canary import SubjectCanary
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
    def __init__(
        self, db: Database, bus: EventBus, registry: ToolRegistry | None = None, *, pinned_agents: Collection[str] = ()
    ) -> None:
        self._db = db
        self._bus = bus
        # What a promoted agent version is validated against, as every save of an agent is.
        self._registry = registry or ToolRegistry()
        self._pinned = frozenset(pinned_agents)

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
        assigned = canary.assignment
        async with self._db.tenant_session(inp.tenant_id) as session:
            if isinstance(assigned, SubjectCanary):
                await settings_store.set_subject_canary(session, inp.tenant_id, assigned)
            else:
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
        reason = inp.reason
        async with self._db.tenant_session(inp.tenant_id) as session:
            closed = await canary_store.finish(session, inp.canary_id, status, reason, inp.actor)
            if closed:
                refused = await self._promote(session, canary, inp.actor) if inp.promote else ""
                if refused:
                    status, reason = CanaryStatus.ROLLED_BACK, refused
                    await canary_store.reclose(session, inp.canary_id, status, reason)
                await self._end(session, canary)
                await record_event_once(
                    session,
                    idempotency_key=f"router-canary:{inp.canary_id}",
                    tenant_id=inp.tenant_id,
                    actor=inp.actor,
                    action=f"router.canary_{status.value}",
                    target=f"router_canary:{inp.canary_id}",
                    details={
                        "kind": canary.kind,
                        "subject": canary.subject.model_dump(exclude={"kind"}),
                        "model": canary.model,
                        "tier": canary.tier,
                        "share": canary.share,
                        "reason": reason,
                    },
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
            {
                "canary_id": inp.canary_id,
                "kind": canary.kind,
                "model": canary.model,
                "tier": canary.tier,
                "reason": reason,
            },
            dedup_key=f"router-canary:{inp.canary_id}",
        )
        log.info("canary finished", tenant_id=inp.tenant_id, canary_id=inp.canary_id, status=status.value)
        return status

    async def _promote(self, session: AsyncSession, canary: StoredCanary, actor: str) -> str:
        """Make what the canary tried the tenant's; the reason it cannot be, or empty when it was done."""
        subject = canary.subject
        if isinstance(subject, ModelSubject):
            await settings_store.promote_canary(session, canary.tenant_id, canary.tier, canary.model)
        elif isinstance(subject, AgentVersionSubject):
            try:
                async with session.begin_nested():
                    await activate_version(
                        session,
                        canary.tenant_id,
                        subject.agent,
                        subject.version,
                        actor,
                        registry=self._registry,
                        pinned=self._pinned,
                        details={"canary_id": canary.id},
                    )
            except (AgentInvalid, AgentNotFound) as exc:
                return f"the version cannot be made active: {str(exc)[:300]}"
        else:
            await settings_store.set_threshold(session, canary.tenant_id, subject.threshold)
        return ""

    async def _end(self, session: AsyncSession, canary: StoredCanary) -> None:
        """End the router's canary; one set since for something else is left alone."""
        assigned = canary.assignment
        if isinstance(assigned, SubjectCanary):
            await settings_store.end_subject_canary(session, canary.tenant_id, assigned.id)
        else:
            await settings_store.end_canary(session, canary.tenant_id, canary.model)

    def all(self) -> list[Callable[..., Any]]:
        return [self.begin, self.evaluate, self.finish]
