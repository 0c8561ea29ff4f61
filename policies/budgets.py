"""Budgets: a tenant's spending limits, its spend against them, and the mode that follows.

A tenant may set a soft and a hard limit per UTC day and per UTC month. Spend against a limit is what was
settled in the period plus the reservations still live (calls under way): a burst of concurrent calls
cannot overshoot a limit merely because none of them has finished yet. At or over a hard limit the tenant
is BLOCKED; at or over a soft one it runs in SAFE mode (cheaper tiers, no expensive tools); otherwise
NORMAL. A tenant without a budget row is NORMAL.

Threshold notifications (50, 80 and 100 % of each limit set) count settled spend only: they report money
actually spent, not money that calls in flight might still give back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.events import EventType
from core.events import EventBus
from core.telemetry import BUDGET_THRESHOLDS
from db.database import run_sql

log = structlog.get_logger("aiaas.costs")

THRESHOLD_PERCENTS = (50, 80, 100)
# Longer than the longest window (a month), so a claim outlives the period it is about.
_THRESHOLD_TTL = 40 * 24 * 3600
_ZERO = Decimal(0)


class BudgetMode(StrEnum):
    NORMAL = "normal"
    SAFE = "safe"
    BLOCKED = "blocked"


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"


class LimitKind(StrEnum):
    SOFT = "soft"
    HARD = "hard"


@dataclass(frozen=True, slots=True)
class Budget:
    daily_soft_usd: Decimal | None = None
    daily_hard_usd: Decimal | None = None
    monthly_soft_usd: Decimal | None = None
    monthly_hard_usd: Decimal | None = None
    updated_at: datetime | None = None

    def limit(self, period: Period, kind: LimitKind) -> Decimal | None:
        prefix = "daily" if period == Period.DAY else "monthly"
        value: Decimal | None = getattr(self, f"{prefix}_{kind}_usd")
        return value

    def limits(self) -> Iterator[tuple[Period, LimitKind, Decimal]]:
        for period in Period:
            for kind in LimitKind:
                value = self.limit(period, kind)
                if value is not None:
                    yield period, kind, value

    @property
    def empty(self) -> bool:
        return next(self.limits(), None) is None


@dataclass(frozen=True, slots=True)
class Spend:
    """Settled spend in the current UTC day and month, and the live reservations (counted in both)."""

    day_usd: Decimal
    month_usd: Decimal
    reserved_usd: Decimal

    def settled(self, period: Period) -> Decimal:
        return self.day_usd if period == Period.DAY else self.month_usd

    def committed(self, period: Period) -> Decimal:
        """What counts against the period's limits: settled plus live reservations."""
        return self.settled(period) + self.reserved_usd


@dataclass(frozen=True, slots=True)
class Crossing:
    period: Period
    kind: LimitKind
    percent: int
    limit_usd: Decimal
    spent_usd: Decimal
    # The period's window, part of the once-only key: "20250131" for a day, "202501" for a month.
    window: str


def windows(now: datetime) -> dict[Period, str]:
    now = now.astimezone(UTC)
    return {Period.DAY: now.strftime("%Y%m%d"), Period.MONTH: now.strftime("%Y%m")}


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    now = now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


def mode_for(budget: Budget | None, spend: Spend) -> BudgetMode:
    if budget is None:
        return BudgetMode.NORMAL
    mode = BudgetMode.NORMAL
    for period, kind, limit in budget.limits():
        if spend.committed(period) >= limit:
            if kind == LimitKind.HARD:
                return BudgetMode.BLOCKED
            mode = BudgetMode.SAFE
    return mode


def percent_used(limit: Decimal, spent: Decimal) -> float:
    if limit <= 0:
        return 100.0  # a zero limit is used up before anything is spent
    return round(float(spent / limit * 100), 2)


def crossings(budget: Budget, spend: Spend, now: datetime) -> list[Crossing]:
    """Every threshold the settled spend has reached in the current windows (deduplicated by the caller)."""
    found = []
    keys = windows(now)
    for period, kind, limit in budget.limits():
        spent = spend.settled(period)
        if spent <= 0:
            continue
        for percent in THRESHOLD_PERCENTS:
            if spent * 100 >= limit * percent:
                found.append(Crossing(period, kind, percent, limit, spent, keys[period]))
    return found


_BUDGET_COLUMNS = "daily_soft_usd, daily_hard_usd, monthly_soft_usd, monthly_hard_usd, updated_at"


def _budget(row: Any) -> Budget:
    return Budget(
        daily_soft_usd=row.daily_soft_usd,
        daily_hard_usd=row.daily_hard_usd,
        monthly_soft_usd=row.monthly_soft_usd,
        monthly_hard_usd=row.monthly_hard_usd,
        updated_at=row.updated_at,
    )


async def load_budget(session: AsyncSession, tenant_id: str) -> Budget | None:
    row = (
        await run_sql(session, f"SELECT {_BUDGET_COLUMNS} FROM budgets WHERE tenant_id = :t", {"t": tenant_id})  # noqa: S608
    ).first()
    return None if row is None else _budget(row)


async def save_budget(session: AsyncSession, tenant_id: str, budget: Budget) -> Budget:
    """Replace the tenant's limits (None clears one); the database checks soft <= hard again."""
    row = (
        await run_sql(
            session,
            f"""
            INSERT INTO budgets (tenant_id, daily_soft_usd, daily_hard_usd, monthly_soft_usd, monthly_hard_usd)
            VALUES (:t, :ds, :dh, :ms, :mh)
            ON CONFLICT (tenant_id) DO UPDATE SET
                daily_soft_usd = EXCLUDED.daily_soft_usd, daily_hard_usd = EXCLUDED.daily_hard_usd,
                monthly_soft_usd = EXCLUDED.monthly_soft_usd, monthly_hard_usd = EXCLUDED.monthly_hard_usd,
                updated_at = now()
            RETURNING {_BUDGET_COLUMNS}
            """,  # noqa: S608
            {
                "t": tenant_id,
                "ds": budget.daily_soft_usd,
                "dh": budget.daily_hard_usd,
                "ms": budget.monthly_soft_usd,
                "mh": budget.monthly_hard_usd,
            },
        )
    ).one()
    return _budget(row)


async def load_spend(session: AsyncSession, tenant_id: str, now: datetime) -> Spend:
    day_start, month_start = period_starts(now)
    row = (
        await run_sql(
            session,
            """
            SELECT
                coalesce(sum(cost_usd) FILTER (WHERE status = 'settled' AND created_at >= :day), 0) AS day_usd,
                coalesce(sum(cost_usd) FILTER (WHERE status = 'settled'), 0) AS month_usd,
                coalesce(sum(reserved_usd) FILTER (WHERE status = 'reserved' AND expires_at > now()), 0)
                    AS reserved_usd
            FROM usage_ledger
            WHERE tenant_id = :t AND created_at >= :month
            """,
            {"t": tenant_id, "day": day_start, "month": month_start},
        )
    ).one()
    return Spend(day_usd=Decimal(row.day_usd), month_usd=Decimal(row.month_usd), reserved_usd=Decimal(row.reserved_usd))


class ThresholdAnnouncer:
    """Publishes `budget.threshold` once per (tenant, period window, limit, percent).

    Each threshold is claimed in Redis, then published on the event stream of the conversation whose
    settlement crossed it (logged either way). A claim left `pending` by a publisher that died is published
    by the next settlement; the event stream's own dedup key makes such a repeat harmless.
    """

    def __init__(self, redis: Redis, bus: EventBus | None) -> None:
        self._redis = redis
        self._bus = bus

    async def announce(self, tenant_id: str, conversation_id: str | None, crossed: list[Crossing]) -> None:
        if not crossed:
            return
        claims = [f"aiaas:budget:{{{tenant_id}}}:threshold:{c.period}:{c.window}:{c.kind}:{c.percent}" for c in crossed]
        try:
            # One round trip in the common case, where every threshold crossed is long announced.
            states = await self._redis.mget(claims)
            for crossing, claim, state in zip(crossed, claims, states, strict=True):
                if state is not None and _text(state) == "done":
                    continue
                owner = _text(state).removeprefix("pending:") if state is not None else conversation_id or ""
                if state is None:
                    if not await self._redis.set(claim, f"pending:{owner}", nx=True, ex=_THRESHOLD_TTL):
                        continue  # a concurrent settlement claimed it and publishes it
                    _log_crossing(tenant_id, crossing)
                if owner and self._bus is not None:
                    await self._publish(tenant_id, owner, crossing)
                await self._redis.set(claim, "done", xx=True, keepttl=True)
        except RedisError:
            log.warning("budget thresholds not announced", tenant_id=tenant_id)

    async def _publish(self, tenant_id: str, conversation_id: str, crossing: Crossing) -> None:
        assert self._bus is not None
        await self._bus.publish(
            tenant_id,
            conversation_id,
            EventType.BUDGET_THRESHOLD,
            {
                "period": str(crossing.period),
                "limit": str(crossing.kind),
                "percent": crossing.percent,
                "limit_usd": str(crossing.limit_usd),
                "spent_usd": str(crossing.spent_usd),
                "window": crossing.window,
            },
            dedup_key=f"budget.threshold:{crossing.period}:{crossing.window}:{crossing.kind}:{crossing.percent}",
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _log_crossing(tenant_id: str, crossing: Crossing) -> None:
    BUDGET_THRESHOLDS.labels(period=str(crossing.period), percent=str(crossing.percent)).inc()
    log.warning(
        "budget threshold crossed",
        tenant_id=tenant_id,
        period=str(crossing.period),
        limit=str(crossing.kind),
        percent=crossing.percent,
        limit_usd=str(crossing.limit_usd),
        spent_usd=str(crossing.spent_usd),
    )
