"""CostGuard: the usage ledger's state machine, budget modes, and the tenant's monthly token counter.

A metered step (one model call of a turn, one tool call) has an attempt-independent ledger key. Its row
moves reserved -> settled -> (refunded, for a compensated tool call), or reserved -> refunded (the call
failed, or its worker died and the reservation expired). Every transition is one UPDATE whose WHERE clause
is the state it leaves, so concurrent attempts, retries and replays each find the row already moved and
change nothing: a step is reserved once and settled once. A refunded row that was never settled can be
reserved again (the next attempt of a failed call) or settled late (a call that outlived its reservation).

After the first settlement the tokens go to a Redis month counter (read by admission through
`month_tokens`), counted once per ledger key by a dedup key in the same script, and the tenant's mode is
recomputed and cached; thresholds crossed are announced on the conversation's event stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from core.events import EventBus
from core.telemetry import MODEL_TOKENS, TENANT_COST_USD
from policies.budgets import (
    Budget,
    BudgetMode,
    Spend,
    ThresholdAnnouncer,
    crossings,
    load_budget,
    load_spend,
    mode_for,
)
from policies.pricing import usd
from tenancy.db import Database, run_sql

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
_SWEEP_BATCH = 1000
_LEDGER_COLUMNS = (
    "status, kind, agent, model, tool, conversation_id, prompt_tokens, completion_tokens, reserved_usd, "
    "cost_usd, settled_at"
)


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


def _tag(tenant_id: str) -> str:
    return "{" + tenant_id + "}"


def month_tokens_key(tenant_id: str, month: str) -> str:
    return f"aiaas:usage:{_tag(tenant_id)}:{month}:tokens"


def _month(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m")


async def month_tokens(redis: Redis, tenant_id: str, month: str) -> int:
    """Tokens settled by `tenant_id` in `month` ("YYYYMM", UTC)."""
    if len(month) != 6 or not month.isdigit():
        raise ValueError("month must be YYYYMM")
    raw = await redis.get(month_tokens_key(tenant_id, month))
    return int(raw) if raw is not None else 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CostGuard:
    def __init__(
        self,
        db: Database,
        redis: Redis,
        bus: EventBus | None = None,
        *,
        mode_cache_seconds: float = 2.0,
        model_label: Callable[[str], str] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._db = db
        self._redis = redis
        self._bus = bus
        self._mode_ttl_ms = int(mode_cache_seconds * 1000)
        self._model_label = model_label or (lambda _model: "other")
        self._clock = clock
        self._count_once = redis.register_script(_COUNT_ONCE)
        self._thresholds = ThresholdAnnouncer(redis, bus)

    # --- the ledger -------------------------------------------------------------------------------------

    async def reserve(
        self,
        tenant_id: str,
        key: str,
        *,
        kind: LedgerKind | str,
        estimate_usd: Decimal,
        workflow_id: str,
        conversation_id: str | None,
        agent: str,
        model: str = "",
        tool: str = "",
        ttl_seconds: float = 600,
    ) -> Reservation:
        params = {
            "t": tenant_id,
            "k": key,
            "kind": str(LedgerKind(kind)),
            "wf": workflow_id,
            "conv": conversation_id,
            "agent": agent,
            "model": model,
            "tool": tool,
            "est": usd(max(Decimal(0), Decimal(estimate_usd))),
            "ttl": float(ttl_seconds),
        }
        async with self._db.tenant_session(tenant_id) as session:
            # A live reservation is extended for the attempt that takes it over; a refunded one that was
            # never settled is armed again; a settled one is left alone and reported as it is.
            row = (
                await run_sql(
                    session,
                    f"""
                    INSERT INTO usage_ledger AS l (tenant_id, key, kind, status, workflow_id, conversation_id,
                        agent, model, tool, reserved_usd, expires_at)
                    VALUES (:t, :k, :kind, 'reserved', :wf, :conv, :agent, :model, :tool, :est,
                        now() + make_interval(secs => :ttl))
                    ON CONFLICT (tenant_id, key) DO UPDATE SET
                        status = 'reserved',
                        reserved_usd = CASE WHEN l.status = 'refunded' THEN EXCLUDED.reserved_usd
                                            ELSE l.reserved_usd END,
                        expires_at = greatest(l.expires_at, EXCLUDED.expires_at)
                    WHERE l.status = 'reserved' OR (l.status = 'refunded' AND l.settled_at IS NULL)
                    RETURNING {_LEDGER_COLUMNS}, (xmax = 0) AS inserted
                    """,  # noqa: S608
                    params,
                )
            ).first()
            if row is None:
                row = (await self._select(session, tenant_id, key)).one()
        return Reservation(
            key=key,
            status=LedgerStatus(row.status),
            created=bool(getattr(row, "inserted", False)),
            reserved_usd=Decimal(row.reserved_usd),
            cost_usd=Decimal(row.cost_usd),
        )

    async def settle(
        self, tenant_id: str, key: str, *, cost_usd: Decimal, prompt_tokens: int, completion_tokens: int
    ) -> bool:
        """reserved -> settled, once: True for the call that settled it, False for every other."""
        done = await self.settle_detail(
            tenant_id, key, cost_usd=cost_usd, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
        return done is not None and done.first

    async def settle_detail(
        self, tenant_id: str, key: str, *, cost_usd: Decimal, prompt_tokens: int, completion_tokens: int
    ) -> Settlement | None:
        """`settle` with what was settled; None when the key was never reserved."""
        if prompt_tokens < 0 or completion_tokens < 0 or cost_usd < 0:
            raise ValueError("usage and cost must be non-negative")
        params = {"t": tenant_id, "k": key, "cost": usd(Decimal(cost_usd)), "p": prompt_tokens, "c": completion_tokens}
        budget: Budget | None = None
        spend: Spend | None = None
        async with self._db.tenant_session(tenant_id) as session:
            row = (
                await run_sql(
                    session,
                    f"""
                    UPDATE usage_ledger AS l SET status = 'settled', cost_usd = :cost, prompt_tokens = :p,
                        completion_tokens = :c, settled_at = now()
                    WHERE tenant_id = :t AND key = :k AND status IN ('reserved', 'refunded') AND settled_at IS NULL
                    RETURNING {_LEDGER_COLUMNS}, (SELECT plan FROM tenants WHERE id = l.tenant_id) AS plan
                    """,  # noqa: S608
                    params,
                )
            ).first()
            first = row is not None
            if row is None:
                # Nothing moved: the step was settled already (or never reserved at all).
                row = (await self._select(session, tenant_id, key)).first()
                if row is None or row.settled_at is None:
                    log.warning("settle without a reservation", tenant_id=tenant_id, key=key)
                    return None
            else:
                # Read in the same transaction: the spend includes this settlement.
                budget = await load_budget(session, tenant_id)
                if budget is not None and not budget.empty:
                    spend = await load_spend(session, tenant_id, self._clock())
        done = Settlement(
            key=key,
            first=first,
            kind=row.kind,
            model=row.model,
            prompt_tokens=int(row.prompt_tokens),
            completion_tokens=int(row.completion_tokens),
            cost_usd=Decimal(row.cost_usd),
            settled_at=row.settled_at,
            plan=str(getattr(row, "plan", None) or "unknown"),
        )
        if row.status == LedgerStatus.SETTLED:
            # Also on a repeat: the first settler may have died between its commit and this step.
            await self._count_tokens(tenant_id, done)
        if first:
            self._observe(done)
            await self._after_change(tenant_id, row.conversation_id, budget, spend)
        return done

    async def refund(self, tenant_id: str, key: str, *, settled_too: bool = True) -> bool:
        """reserved (or settled, for a compensated tool call) -> refunded, once.

        `settled_too=False` gives back only a live reservation: what a failed attempt does, which must not
        undo a settlement another attempt of the same step made meanwhile.
        """
        refundable = {LedgerStatus.RESERVED, LedgerStatus.SETTLED} if settled_too else {LedgerStatus.RESERVED}
        async with self._db.tenant_session(tenant_id) as session:
            row = (await self._select(session, tenant_id, key, lock=True)).first()
            if row is None or row.status not in refundable:
                return False
            await run_sql(
                session,
                "UPDATE usage_ledger SET status = 'refunded' WHERE tenant_id = :t AND key = :k",
                {"t": tenant_id, "k": key},
            )
        tokens = int(row.prompt_tokens) + int(row.completion_tokens)
        if row.status == LedgerStatus.SETTLED and tokens:
            await self._count(tenant_id, f"uncounted:{key}", _month(row.settled_at), -tokens)
        await self.invalidate(tenant_id)
        return True

    async def expire_reservations(self, tenant_id: str | None = None) -> int:
        """Refund reservations past their expiry: of one tenant, or (through the sweep function) of all."""
        if tenant_id is not None:
            async with self._db.tenant_session(tenant_id) as session:
                result = await run_sql(
                    session,
                    "UPDATE usage_ledger SET status = 'refunded' "
                    "WHERE tenant_id = :t AND status = 'reserved' AND expires_at <= now()",
                    {"t": tenant_id},
                )
            expired = int(result.rowcount or 0)  # type: ignore[attr-defined]
            if expired:
                await self.invalidate(tenant_id)
            return expired
        total = 0
        while True:
            async with self._db.admin_session() as session:
                batch = int(
                    (await run_sql(session, "SELECT usage_expire_reservations(:n)", {"n": _SWEEP_BATCH})).scalar_one()
                )
            total += batch
            if batch < _SWEEP_BATCH:
                return total

    async def sweep_forever(self, interval_seconds: float = 60.0) -> None:
        """Expire dead reservations every `interval_seconds` until cancelled (a worker's background task).

        Expired reservations stop counting against budgets by themselves; the sweep only moves them to
        `refunded` so the ledger says what happened. Several workers sweeping at once is harmless.
        """
        while True:
            try:
                expired = await self.expire_reservations()
                if expired:
                    log.info("expired reservations refunded", count=expired)
            except Exception:
                log.exception("reservation sweep failed; trying again later")
            await asyncio.sleep(interval_seconds)

    async def _select(self, session: AsyncSession, tenant_id: str, key: str, *, lock: bool = False) -> Any:
        lock_clause = " FOR UPDATE" if lock else ""
        return await run_sql(
            session,
            f"SELECT {_LEDGER_COLUMNS} FROM usage_ledger WHERE tenant_id = :t AND key = :k{lock_clause}",  # noqa: S608
            {"t": tenant_id, "k": key},
        )

    # --- spend and mode ---------------------------------------------------------------------------------

    async def spend(self, tenant_id: str) -> Spend:
        async with self._db.tenant_session(tenant_id) as session:
            return await load_spend(session, tenant_id, self._clock())

    async def status(self, tenant_id: str) -> tuple[Budget | None, Spend, BudgetMode]:
        """Budget, spend and mode read together (the budgets API), and the mode cache refreshed."""
        async with self._db.tenant_session(tenant_id) as session:
            budget = await load_budget(session, tenant_id)
            spend = await load_spend(session, tenant_id, self._clock())
        mode = mode_for(budget, spend)
        await self._cache_mode(tenant_id, mode)
        return budget, spend, mode

    async def mode(self, tenant_id: str) -> BudgetMode:
        """The tenant's mode, from a cache a couple of seconds old at most, else from the ledger."""
        try:
            cached = await self._redis.get(self._mode_key(tenant_id))
        except RedisError:
            cached = None
        # A value this version cannot read (written by another one) is recomputed like a missing one.
        if cached is not None and _text(cached) in {mode.value for mode in BudgetMode}:
            return BudgetMode(_text(cached))
        async with self._db.tenant_session(tenant_id) as session:
            budget = await load_budget(session, tenant_id)
            spend = None if budget is None or budget.empty else await load_spend(session, tenant_id, self._clock())
        mode = BudgetMode.NORMAL if spend is None else mode_for(budget, spend)
        await self._cache_mode(tenant_id, mode)
        return mode

    async def invalidate(self, tenant_id: str) -> None:
        """Forget the cached mode (a budget changed, money was given back): the next read recomputes."""
        try:
            await self._redis.delete(self._mode_key(tenant_id))
        except RedisError:
            log.warning("budget mode cache not invalidated", tenant_id=tenant_id)

    def _mode_key(self, tenant_id: str) -> str:
        return f"aiaas:budget:{_tag(tenant_id)}:mode"

    async def _cache_mode(self, tenant_id: str, mode: BudgetMode) -> None:
        if self._mode_ttl_ms <= 0:
            return
        try:
            await self._redis.set(self._mode_key(tenant_id), str(mode), px=self._mode_ttl_ms)
        except RedisError:
            log.warning("budget mode not cached", tenant_id=tenant_id)

    async def _after_change(
        self, tenant_id: str, conversation_id: str | None, budget: Budget | None, spend: Spend | None
    ) -> None:
        mode = BudgetMode.NORMAL if budget is None or spend is None else mode_for(budget, spend)
        await self._cache_mode(tenant_id, mode)
        if budget is not None and spend is not None:
            await self._thresholds.announce(tenant_id, conversation_id, crossings(budget, spend, self._clock()))

    # --- counters and metrics --------------------------------------------------------------

    async def _count_tokens(self, tenant_id: str, done: Settlement) -> None:
        tokens = done.prompt_tokens + done.completion_tokens
        if tokens:
            await self._count(tenant_id, f"counted:{done.key}", _month(done.settled_at), tokens)

    async def _count(self, tenant_id: str, dedup: str, month: str, delta: int) -> None:
        keys = [month_tokens_key(tenant_id, month), f"aiaas:usage:{_tag(tenant_id)}:{dedup}"]
        try:
            await self._count_once(keys=keys, args=[delta, _COUNTED_TTL, _MONTH_TTL])
        except RedisError:
            # The ledger is the record; the counter is admission's fast estimate of it.
            log.warning("month token counter not updated", tenant_id=tenant_id, tokens=delta)

    def _observe(self, done: Settlement) -> None:
        TENANT_COST_USD.labels(plan=done.plan).inc(float(done.cost_usd))
        if done.kind == LedgerKind.MODEL:
            label = self._model_label(done.model)
            MODEL_TOKENS.labels(kind="prompt", model=label).inc(done.prompt_tokens)
            MODEL_TOKENS.labels(kind="completion", model=label).inc(done.completion_tokens)
