"""The usage ledger's vocabulary, and the tenant's month token counter in Redis.

A metered step (one model call of a turn, one tool call) has an attempt-independent ledger key,
`<workflow id>:<step key>`; `policies.cost_guard.CostGuard` moves its row between the `LedgerStatus`es. After
the first settlement the tokens go to a Redis month counter (read by admission through `month_tokens`),
counted once per ledger key by a dedup key in the same script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("aiaas.costs")

# Counts `ARGV[1]` tokens into the month counter once per ledger key; both keys share the tenant's tag.
_COUNT_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  local total = redis.call('INCRBY', KEYS[1], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return total
end
return false
"""
# A retry that heals a counter missed by a crash comes within the activity's retry window, not later.
_COUNTED_TTL = 2 * 24 * 3600
_MONTH_TTL = 70 * 24 * 3600
# The ledger's and budgets' money columns are numeric(14, 6): whatever takes an amount in must fit them.
MONEY_DIGITS, MONEY_PLACES = 14, 6


class LedgerStatus(StrEnum):
    RESERVED = "reserved"
    SETTLED = "settled"
    REFUNDED = "refunded"


class LedgerKind(StrEnum):
    MODEL = "model"
    TOOL = "tool"


@dataclass(frozen=True, slots=True)
class Reservation:
    key: str
    status: LedgerStatus
    # True when this call inserted the row; False when an earlier attempt (or a concurrent one) had.
    created: bool
    reserved_usd: Decimal
    cost_usd: Decimal

    @property
    def settled(self) -> bool:
        """The step was billed already (a replay or a retry after settlement): settling again is a no-op."""
        return self.status == LedgerStatus.SETTLED


@dataclass(frozen=True, slots=True)
class Settlement:
    key: str
    first: bool
    kind: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    settled_at: datetime
    plan: str


def ledger_key(workflow_id: str | None, step_key: str) -> str:
    """The ledger key of a step: `step_key` must not depend on the attempt (`<message>:model:<step>`)."""
    if not workflow_id or not step_key:
        raise ValueError("workflow_id and step_key must be non-empty")
    return f"{workflow_id}:{step_key}"


def model_step_key(message_id: str, step: int) -> str:
    return f"{message_id}:model:{step}"


def tool_step_key(message_id: str, call_id: str) -> str:
    return f"{message_id}:tool:{call_id}"


def tenant_tag(tenant_id: str) -> str:
    """A Redis hash tag: every key of one tenant lands on the same cluster slot, as scripts require."""
    return "{" + tenant_id + "}"


def month_tokens_key(tenant_id: str, month: str) -> str:
    return f"aiaas:usage:{tenant_tag(tenant_id)}:{month}:tokens"


def month_of(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m")


async def month_tokens(redis: Redis, tenant_id: str, month: str) -> int:
    """Tokens settled by `tenant_id` in `month` ("YYYYMM", UTC)."""
    if len(month) != 6 or not month.isdigit():
        raise ValueError("month must be YYYYMM")
    raw = await redis.get(month_tokens_key(tenant_id, month))
    return int(raw) if raw is not None else 0


class MonthTokenCounter:
    """Admission's fast estimate of the ledger's tokens per tenant and month; the ledger stays the record."""

    def __init__(self, redis: Redis) -> None:
        self._count_once = redis.register_script(_COUNT_ONCE)

    async def settled(self, tenant_id: str, done: Settlement) -> None:
        tokens = done.prompt_tokens + done.completion_tokens
        if tokens:
            await self.add(tenant_id, f"counted:{done.key}", month_of(done.settled_at), tokens)

    async def add(self, tenant_id: str, dedup: str, month: str, delta: int) -> None:
        """Add `delta` once per `dedup` (a retry after a crash adds nothing twice)."""
        keys = [month_tokens_key(tenant_id, month), f"aiaas:usage:{tenant_tag(tenant_id)}:{dedup}"]
        try:
            await self._count_once(keys=keys, args=[delta, _COUNTED_TTL, _MONTH_TTL])
        except RedisError:
            log.warning("month token counter not updated", tenant_id=tenant_id, tokens=delta)
