"""Each tenant's plan, as admission needs it on every request: from memory, refreshed every few seconds.

The plan sits in the tenants table; reading it per request would put a database round trip in front of
every rate-limit decision. A plan change (a platform operation, rare) reaches every replica within
`admission_plan_cache_seconds`.

An entry is the tenant's whole `TenantPlan`, Temporal priority included, so a request that admission lets
through carries everything its turn needs from the plan without asking for it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from temporalio.common import Priority

from db.database import Database, run_sql
from policies.fairness import priority_for
from tenancy.plans import PlanLimits, limits_for

_MAX_ENTRIES = 100_000
# A tenant whose row cannot be read (purged while its credentials were still cached) gets the smallest plan.
_FALLBACK_PLAN = "free"


@dataclass(frozen=True)
class TenantPlan:
    """A tenant's plan: its name, its limits, and the priority every run started for the tenant carries
    (the plan's queue priority and fairness weight, with the tenant as fairness key)."""

    tenant_id: str
    name: str
    limits: PlanLimits
    priority: Priority

    @classmethod
    def of(cls, tenant_id: str, name: str) -> TenantPlan:
        limits = limits_for(name)
        priority = priority_for(tenant_id, queue_priority=limits.queue_priority, fairness_weight=limits.fairness_weight)
        return cls(tenant_id, name, limits, priority)


class PlanCache:
    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[TenantPlan, float]] = {}

    async def plan_of(self, tenant_id: str) -> TenantPlan:
        now = time.monotonic()
        entry = self._entries.get(tenant_id)
        if entry is not None and entry[1] > now:
            return entry[0]
        async with self._db.tenant_session(tenant_id) as session:
            row = (await run_sql(session, "SELECT plan FROM tenants WHERE id = :id", {"id": tenant_id})).first()
        plan = TenantPlan.of(tenant_id, str(row[0]) if row is not None else _FALLBACK_PLAN)
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[tenant_id] = (plan, now + self._ttl)
        return plan

    def forget(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._entries.clear()
        else:
            self._entries.pop(tenant_id, None)
