"""The tenant's budget mode, cached in Redis for a couple of seconds so admission and every metered call do
not each read the ledger. A missing, unreadable or unreachable entry just means "compute it"."""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from policies.budgets import BudgetMode
from policies.ledger import tenant_tag

log = structlog.get_logger("aiaas.costs")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ModeCache:
    def __init__(self, redis: Redis, ttl_seconds: float) -> None:
        self._redis = redis
        self._ttl_ms = int(ttl_seconds * 1000)

    @staticmethod
    def key(tenant_id: str) -> str:
        return f"aiaas:budget:{tenant_tag(tenant_id)}:mode"

    async def get(self, tenant_id: str) -> BudgetMode | None:
        try:
            cached = await self._redis.get(self.key(tenant_id))
        except RedisError:
            return None
        # A value this version cannot read (written by another one) is recomputed like a missing one.
        if cached is not None and _text(cached) in {mode.value for mode in BudgetMode}:
            return BudgetMode(_text(cached))
        return None

    async def put(self, tenant_id: str, mode: BudgetMode) -> None:
        if self._ttl_ms <= 0:
            return
        try:
            await self._redis.set(self.key(tenant_id), str(mode), px=self._ttl_ms)
        except RedisError:
            log.warning("budget mode not cached", tenant_id=tenant_id)

    async def forget(self, tenant_id: str) -> None:
        try:
            await self._redis.delete(self.key(tenant_id))
        except RedisError:
            log.warning("budget mode cache not invalidated", tenant_id=tenant_id)
