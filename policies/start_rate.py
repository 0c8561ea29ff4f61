"""A tenant's rate of workflow starts on the engine: one token bucket per tenant in Redis (GCRA, Redis' clock).

Every turn reaches its conversation's run through an update-with-start, and the engine accepts starts at a
bounded pace (on the embedded dev server, one SQLite writer). The request rate limits (`policies.rate_limit`)
bound a tenant's requests per route class; this bucket bounds what the tenant may ask of the engine, shared
by every gateway process, so one tenant's burst cannot fill the engine's start path for everyone. The bucket
is sized from the tenant's plan (`PlanLimits.start_rate`), which settings may override per plan
(`AIAAS_START_RATES`).

The bucket is a single number, its theoretical arrival time (TAT) in microseconds: a start is admitted when
`now >= TAT + T - burst*T` (T = 60 s / per_minute) and moves the TAT by T. A refused start takes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis

from policies.rate_limit import Rate

_MICROS = 1_000_000

# KEYS: the tenant's bucket. ARGV: interval (us), burst. Returns {admitted, remaining, retry_after_us}.
_BUCKET = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if now < allow_at then
  return {0, 0, math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now - allow_at) / interval), 0}
"""


@dataclass(frozen=True, slots=True)
class StartDecision:
    allowed: bool
    limit: int
    remaining: int
    # Until a start would be admitted; 0 when this one was.
    retry_after_seconds: float

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_seconds)))


class StartRateLimiter:
    def __init__(self, redis: Redis, prefix: str = "aiaas:starts") -> None:
        self._script = redis.register_script(_BUCKET)
        self._prefix = prefix

    def bucket_key(self, tenant_id: str) -> str:
        # The tenant as hash tag, like the request buckets, so a cluster keeps a tenant's keys on one node.
        return f"{self._prefix}:{{{tenant_id}}}"

    async def take(self, tenant_id: str, rate: Rate) -> StartDecision:
        """Draw one start from `tenant_id`'s bucket, or nothing when it is empty."""
        allowed, remaining, retry_us = (
            int(v)
            for v in await self._script(keys=[self.bucket_key(tenant_id)], args=[repr(rate.interval_us), rate.burst])
        )
        return StartDecision(
            allowed=bool(allowed),
            limit=rate.burst,
            remaining=max(0, remaining),
            retry_after_seconds=retry_us / _MICROS,
        )
