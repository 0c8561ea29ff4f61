"""Each tenant's plan, as admission needs it on every request: from memory, refreshed every few seconds.

The plan sits in the tenants table; reading it per request would put a database round trip in front of
every rate-limit decision. A plan change (a platform operation, rare) reaches every replica within
`admission_plan_cache_seconds`.
"""

from __future__ import annotations

import time

from db.database import Database, run_sql
from tenancy.plans import PlanLimits, limits_for

_MAX_ENTRIES = 100_000
# A tenant whose row cannot be read (purged while its credentials were still cached) gets the smallest plan.
_FALLBACK_PLAN = "free"


class PlanCache:
    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[str, float]] = {}

    async def plan_of(self, tenant_id: str) -> tuple[str, PlanLimits]:
        """The tenant's plan name and limits."""
        now = time.monotonic()
        entry = self._entries.get(tenant_id)
        if entry is not None and entry[1] > now:
            return entry[0], limits_for(entry[0])
        async with self._db.tenant_session(tenant_id) as session:
            row = (await run_sql(session, "SELECT plan FROM tenants WHERE id = :id", {"id": tenant_id})).first()
        plan = str(row[0]) if row is not None else _FALLBACK_PLAN
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[tenant_id] = (plan, now + self._ttl)
        return plan, limits_for(plan)

    def forget(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._entries.clear()
        else:
            self._entries.pop(tenant_id, None)
