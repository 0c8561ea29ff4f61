"""Concurrent-turn leases per tenant, in Redis: a sorted set of lease ids scored by their expiry.

Acquiring purges expired leases, counts the rest and adds the new one in one script, so replicas racing for
the last slot cannot both win. The lease id is the message id: a message posted twice asks for the lease
it already holds and gets it back (renewed) instead of a second slot. A holder that dies never releases,
so every lease carries an expiry, read from Redis' clock like everything else here; the slot frees itself
when the expiry passes.
"""

from __future__ import annotations

import asyncio
import random
import time
from enum import StrEnum

from redis.asyncio import Redis

_FIRST_POLL_SECONDS = 0.02
_MAX_POLL_SECONDS = 0.25

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: lease set. ARGV: lease id, limit, ttl (ms). Returns {outcome (0 refused, 1 acquired, 2 held), in use}.
_ACQUIRE = (
    "if redis.replicate_commands then redis.replicate_commands() end"
    + _NOW_MS
    + """
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
if not held and count >= tonumber(ARGV[2]) then return {0, count} end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
if held then return {2, count} end
return {1, count + 1}
"""
)

# KEYS: lease set. ARGV: lease id, ttl (ms). Returns 1 when the lease was still held and is renewed.
_RENEW = (
    "if redis.replicate_commands then redis.replicate_commands() end"
    + _NOW_MS
    + """
local ttl = tonumber(ARGV[2])
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) <= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""
)

# KEYS: lease set. Read only: counts the leases not yet expired.
_IN_USE = _NOW_MS + "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')"


class LeaseOutcome(StrEnum):
    ACQUIRED = "acquired"
    # The lease id already held a slot (a repeated message): renewed, no second slot taken.
    ALREADY_HELD = "already_held"
    REFUSED = "refused"


def lease_key(tenant_id: str, prefix: str = "aiaas:lease") -> str:
    return f"{prefix}:{{{tenant_id}}}"


class ConcurrencyLeases:
    def __init__(self, redis: Redis, prefix: str = "aiaas:lease") -> None:
        self._redis = redis
        self._prefix = prefix
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._in_use = redis.register_script(_IN_USE)

    def key(self, tenant_id: str) -> str:
        return lease_key(tenant_id, self._prefix)

    async def try_acquire(self, tenant_id: str, lease_id: str, limit: int, ttl_seconds: float) -> LeaseOutcome:
        outcome, _count = await self._acquire(keys=[self.key(tenant_id)], args=[lease_id, limit, _millis(ttl_seconds)])
        return (LeaseOutcome.REFUSED, LeaseOutcome.ACQUIRED, LeaseOutcome.ALREADY_HELD)[int(outcome)]

    async def acquire(self, tenant_id: str, lease_id: str, limit: int, ttl_seconds: float) -> bool:
        """Take (or keep) a slot for `lease_id` if fewer than `limit` are in use; never waits."""
        return await self.try_acquire(tenant_id, lease_id, limit, ttl_seconds) is not LeaseOutcome.REFUSED

    async def acquire_waiting(
        self, tenant_id: str, lease_id: str, limit: int, ttl_seconds: float, wait_seconds: float
    ) -> LeaseOutcome:
        """Like `try_acquire`, but polls (with backoff and jitter) for up to `wait_seconds` for a free slot."""
        deadline = time.monotonic() + max(0.0, wait_seconds)
        delay = _FIRST_POLL_SECONDS
        while True:
            outcome = await self.try_acquire(tenant_id, lease_id, limit, ttl_seconds)
            left = deadline - time.monotonic()
            if outcome is not LeaseOutcome.REFUSED or left <= 0:
                return outcome
            # Jitter spreads the waiters of one tenant, so a freed slot is not stampeded by all at once.
            await asyncio.sleep(min(left, delay * random.uniform(0.5, 1.0)))  # noqa: S311 - not security
            delay = min(_MAX_POLL_SECONDS, delay * 1.5)

    async def release(self, tenant_id: str, lease_id: str) -> bool:
        """Free the slot of `lease_id`; False when it was not held (already released or expired)."""
        return bool(await self._redis.zrem(self.key(tenant_id), lease_id))

    async def renew(self, tenant_id: str, lease_id: str, ttl_seconds: float) -> bool:
        """Push the expiry of a held lease to `ttl_seconds` from now; False when it is no longer held."""
        return bool(await self._renew(keys=[self.key(tenant_id)], args=[lease_id, _millis(ttl_seconds)]))

    async def in_use(self, tenant_id: str) -> int:
        return int(await self._in_use(keys=[self.key(tenant_id)]))


def _millis(seconds: float) -> int:
    if seconds <= 0:
        raise ValueError("a lease needs a positive ttl")
    return max(1, round(seconds * 1000))


async def release_turn_lease(redis: Redis, tenant_id: str, message_id: str) -> bool:
    """Free the concurrent-turn slot the gateway took for `message_id`, once its turn has ended.

    For the worker, at the end of a turn (completed, failed or cut), and when the turn starts waiting for a
    person's approval: a turn parked on a human uses no worker, so it holds no slot. Idempotent: a retried
    activity or a second call returns False and changes nothing.
    """
    return bool(await redis.zrem(lease_key(tenant_id), message_id))
