"""Monthly quotas: messages counted in Redis at admission, tokens as settled by the cost guard.

A month is a UTC calendar month named "YYYYMM". The message counter is taken before a turn starts (count,
then compare, in one script, so two replicas cannot both take the last message) and handed back when the
submission fails or turns out to repeat a message already counted. The counters outlive their month by a
few weeks, which keeps last month readable for support and then cleans up after itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from redis.asyncio import Redis

# Long enough to read last month's figure during this one.
_COUNTER_TTL_SECONDS = 62 * 24 * 3600

# KEYS: counter. ARGV: limit, ttl. Returns {taken (0/1), used after the call}.
_TAKE = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
if used > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return {0, used - 1}
end
return {1, used}
"""

# KEYS: counter. Never below zero: a refund racing the counter's expiry must not go negative.
_REFUND = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class Quota(StrEnum):
    MESSAGES = "messages"
    TOKENS = "tokens"


def month_of(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return f"{moment.year:04d}{moment.month:02d}"


def resets_at(month: str) -> datetime:
    """The first instant of the month after `month`, when its quotas start again from zero."""
    if len(month) != 6 or not month.isdigit() or not 1 <= int(month[4:]) <= 12:
        raise ValueError(f"a month is YYYYMM, not {month!r}")
    year, number = int(month[:4]), int(month[4:])
    return datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    allowed: bool
    quota: Quota
    limit: int
    used: int
    month: str

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def resets_at(self) -> datetime:
        return resets_at(self.month)


class MessageQuota:
    def __init__(self, redis: Redis, prefix: str = "aiaas:quota") -> None:
        self._redis = redis
        self._take = redis.register_script(_TAKE)
        self._refund = redis.register_script(_REFUND)
        self._prefix = prefix

    def key(self, tenant_id: str, month: str) -> str:
        return f"{self._prefix}:{{{tenant_id}}}:messages:{month}"

    async def take(self, tenant_id: str, month: str, limit: int) -> QuotaCheck:
        """Count one message against `limit`, unless the month's quota is spent."""
        taken, used = await self._take(keys=[self.key(tenant_id, month)], args=[limit, _COUNTER_TTL_SECONDS])
        return QuotaCheck(bool(taken), Quota.MESSAGES, limit, int(used), month)

    async def refund(self, tenant_id: str, month: str) -> None:
        """Hand back a message counted in `month` that did not start a turn."""
        await self._refund(keys=[self.key(tenant_id, month)])

    async def used(self, tenant_id: str, month: str) -> int:
        raw = await self._redis.get(self.key(tenant_id, month))
        return int(raw or 0)

    async def set_used(self, tenant_id: str, month: str, used: int) -> None:
        """For operators and tests: set the month's count, e.g. after restoring Redis from a backup."""
        await self._redis.set(self.key(tenant_id, month), max(0, used), ex=_COUNTER_TTL_SECONDS)


def token_check(used: int, limit: int, month: str) -> QuotaCheck:
    """The token quota is spent once the month's settled tokens reach the limit."""
    return QuotaCheck(used < limit, Quota.TOKENS, limit, used, month)
