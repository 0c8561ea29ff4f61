"""Rate limits as GCRA (generic cell rate algorithm) in Redis: one atomic script, Redis' own clock.

Each bucket is one key holding its theoretical arrival time (TAT) in microseconds. A request of cost c is
admitted when `now >= TAT + c*T - burst*T` (T = the emission interval, 60 s / rate), and then moves the TAT
by c*T. That is a token bucket holding `burst` tokens and refilling one every T, kept in a single number.

A request draws on two buckets at once, its tenant's and its key's (an API key, or a token's subject). Both
are evaluated in the same script and written only if both admit, so a refused request consumes nothing in
either. The clock is Redis' `TIME`, never the gateway's: every replica sharing the Redis counts against
the same buckets with the same time, whatever their own clocks say. Both keys carry the tenant as their
hash tag, so the script stays on one node of a Redis cluster.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis

_MICROS = 1_000_000

# KEYS: tenant bucket, key bucket. ARGV: tenant interval (us), tenant burst, key interval (us), key burst, cost.
# Returns {admitted, binding scope (1 tenant, 2 key), limit, remaining, reset_us, retry_after_us}.
_GCRA = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[5])
local function evaluate(key, interval, burst)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local allow_at = new_tat - interval * burst
  return tat, new_tat, allow_at
end
local scopes = {{KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])}, {KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4])}}
local results = {}
for i, s in ipairs(scopes) do
  local tat, new_tat, allow_at = evaluate(s[1], s[2], s[3])
  results[i] = {tat, new_tat, allow_at}
  if now < allow_at then
    return {0, i, s[3], 0, math.ceil(tat - now), math.ceil(allow_at - now)}
  end
end
local binding, best = 1, nil
for i, s in ipairs(scopes) do
  local new_tat, allow_at = results[i][2], results[i][3]
  local remaining = math.floor((now - allow_at) / s[2])
  redis.call('SET', s[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
  if best == nil or remaining < best then binding, best = i, remaining end
end
local s = scopes[binding]
return {1, binding, s[3], best, math.ceil(results[binding][2] - now), 0}
"""


class Scope(StrEnum):
    TENANT = "tenant"
    KEY = "key"


@dataclass(frozen=True, slots=True)
class Rate:
    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_minute > 0 and burst >= 1")

    @property
    def interval_us(self) -> float:
        return 60 * _MICROS / self.per_minute


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    # The bucket that refused, or (when admitted) the one with the least room left: what the headers show.
    scope: Scope
    limit: int
    remaining: int
    # Until the binding bucket is full again.
    reset_seconds: float
    # Until the request would be admitted; 0 when it was.
    retry_after_seconds: float

    def headers(self) -> dict[str, str]:
        """`RateLimit-*` headers (IETF draft) for the response; `Retry-After` when refused."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(math.ceil(self.reset_seconds)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_seconds)))
        return headers


def subject_tag(subject: str) -> str:
    """A short fixed-size stand-in for a key id or token subject, so any subject makes a bounded Redis key."""
    return hashlib.blake2b(subject.encode(), digest_size=8).hexdigest()


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str = "aiaas:rl") -> None:
        self._script = redis.register_script(_GCRA)
        self._prefix = prefix

    def bucket_keys(self, tenant_id: str, subject: str, route_class: str) -> tuple[str, str]:
        base = f"{self._prefix}:{{{tenant_id}}}:{route_class}"
        return f"{base}:t", f"{base}:k:{subject_tag(subject)}"

    async def hit(
        self,
        *,
        tenant_id: str,
        subject: str,
        route_class: str,
        tenant_rate: Rate,
        key_rate: Rate,
        cost: int = 1,
    ) -> RateDecision:
        """Draw `cost` from the tenant's and the subject's bucket of `route_class`, or from neither."""
        if cost < 1:
            raise ValueError("cost must be at least 1")
        keys = self.bucket_keys(tenant_id, subject, route_class)
        args: list[str | int] = [
            repr(tenant_rate.interval_us),
            tenant_rate.burst,
            repr(key_rate.interval_us),
            key_rate.burst,
            cost,
        ]
        allowed, binding, limit, remaining, reset_us, retry_us = (
            int(v) for v in await self._script(keys=list(keys), args=args)
        )
        return RateDecision(
            allowed=bool(allowed),
            scope=Scope.TENANT if binding == 1 else Scope.KEY,
            limit=limit,
            remaining=remaining,
            reset_seconds=reset_us / _MICROS,
            retry_after_seconds=retry_us / _MICROS,
        )
