"""The tenant's budget mode, cached in Redis for a couple of seconds so admission and every metered call do
not each read the ledger. A missing, unreadable or unreachable entry just means "compute it".

Writers race: settlements running at once each compute the mode from the spend they saw, and the last to
write would win even if it saw the least. So a write never lowers a cached mode (normal < safe < blocked);
spend only falls when money is given back or a budget changes, and those forget the entry first.
"""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from policies.budgets import BudgetMode
from policies.ledger import tenant_tag

log = structlog.get_logger("aiaas.costs")


# Set unless the cached mode is stricter; ARGV: mode, its rank, ttl in ms.
_PUT_UNLESS_STRICTER = """
local rank = {normal = 0, safe = 1, blocked = 2}
local current = redis.call('GET', KEYS[1])
if current and rank[current] and rank[current] > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""
_RANK = {BudgetMode.NORMAL: 0, BudgetMode.SAFE: 1, BudgetMode.BLOCKED: 2}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ModeCache:
    def __init__(self, redis: Redis, ttl_seconds: float) -> None:
        self._redis = redis
        self._ttl_ms = int(ttl_seconds * 1000)
        self._put = redis.register_script(_PUT_UNLESS_STRICTER)

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
            await self._put(keys=[self.key(tenant_id)], args=[str(mode), _RANK[mode], self._ttl_ms])
        except RedisError:
            log.warning("budget mode not cached", tenant_id=tenant_id)

    async def forget(self, tenant_id: str) -> None:
        try:
            await self._redis.delete(self.key(tenant_id))
        except RedisError:
            log.warning("budget mode cache not invalidated", tenant_id=tenant_id)
