"""A bulkhead: at most `limit` concurrent calls per (tenant, tool), counted across every worker in Redis.

The slots are a sorted set of lease ids scored by their expiry (Redis time, ms). Acquiring purges expired
leases, counts the rest and adds this one in a single Lua script, so two workers can never both take the
last slot. A lease whose holder was killed is never released, but it expires on its own after
`ttl_seconds` (the call's timeout plus a margin), so a crash costs a slot for at most that long.

One tenant's slow tool fills only its own bulkhead: other tools, and other tenants, keep their slots.
"""

from __future__ import annotations

from prometheus_client import Counter
from redis.asyncio import Redis

REFUSED = Counter("aiaas_bulkhead_refused_total", "Calls refused because their bulkhead was full")

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# A key's own expiry only ever grows, so a short lease never cuts a longer one's life short.
_EXTEND_KEY = """
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
"""

# KEYS: the lease set. ARGV: lease id, limit, ttl ms. 1 when the lease is held (re-acquiring is a renewal).
_ACQUIRE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
"""
    + _EXTEND_KEY
    + "return 1\n"
)

# KEYS: the lease set. ARGV: lease id, unused, ttl ms. 1 when the lease was still held and is extended.
_RENEW = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
"""
    + _EXTEND_KEY
    + "return 1\n"
)


def bulkhead_key(tenant_id: str, tool: str) -> str:
    return f"aiaas:bh:{{{tenant_id}:{tool}}}"


def _ms(seconds: float) -> int:
    if seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    return max(int(seconds * 1000), 1)


class Bulkhead:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)

    async def acquire(self, tenant_id: str, tool: str, lease_id: str, limit: int, ttl_seconds: float) -> bool:
        """Take a slot for `lease_id`; False when `limit` other leases are live."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        held = await self._acquire(keys=[bulkhead_key(tenant_id, tool)], args=[lease_id, limit, _ms(ttl_seconds)])
        if not int(held):
            REFUSED.inc()
        return bool(int(held))

    async def release(self, tenant_id: str, tool: str, lease_id: str) -> None:
        await self._redis.zrem(bulkhead_key(tenant_id, tool), lease_id)

    async def renew(self, tenant_id: str, tool: str, lease_id: str, ttl_seconds: float) -> bool:
        """Push the lease's expiry to `ttl_seconds` from now; False when it had expired (the slot may be gone)."""
        held = await self._renew(keys=[bulkhead_key(tenant_id, tool)], args=[lease_id, 0, _ms(ttl_seconds)])
        return bool(int(held))

    async def in_use(self, tenant_id: str, tool: str) -> int:
        """Live leases now (expired ones still stored are not counted)."""
        key = bulkhead_key(tenant_id, tool)
        time_s, time_us = await self._redis.time()
        now_ms = int(time_s) * 1000 + int(time_us) // 1000
        return int(await self._redis.zcount(key, f"({now_ms}", "+inf"))
