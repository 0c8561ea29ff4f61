"""CostGuard: the usage ledger's state machine and the tenant's budget mode.

A metered step (one model call of a turn, one tool call) has an attempt-independent ledger key. Its row
moves reserved -> settled -> (refunded, for a compensated tool call), or reserved -> refunded (the call
failed, or its worker died and the reservation expired). Every transition is one UPDATE whose WHERE clause
is the state it leaves, so concurrent attempts, retries and replays each find the row already moved and
change nothing: a step is reserved once and settled once. A refunded row that was never settled can be
reserved again (the next attempt of a failed call) or settled late (a call that outlived its reservation).

After the first settlement the tokens go to the month counter (`policies.ledger.MonthTokenCounter`), and the
tenant's mode is recomputed and cached (`policies.mode_cache`); thresholds crossed are announced on the
conversation's event stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import structlog
from redis.asyncio import Redis

from core.events import EventBus
from core.metric_labels import tenant_label
from core.telemetry import MODEL_TOKENS, TENANT_COST_USD
from db.database import Database
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
from policies.ledger import (
    LedgerKind,
    LedgerStatus,
    MonthTokenCounter,
    Reservation,
    Settlement,
    month_of,
)
from policies.ledger_sql import (
    SWEEP_BATCH,
    expire_batch,
    expire_tenant,
    mark_refunded,
    reserve_row,
    select_row,
    settle_row,
)
from policies.mode_cache import ModeCache
from policies.pricing import usd

log = structlog.get_logger("aiaas.costs")


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
        self._modes = ModeCache(redis, mode_cache_seconds)
        self._model_label = model_label or (lambda _model: "other")
        self._clock = clock
        self._tokens = MonthTokenCounter(redis)
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
            row = await reserve_row(session, params)
            if row is None:
                row = (await select_row(session, tenant_id, key)).one()
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
        self,
        tenant_id: str,
        key: str,
        *,
        cost_usd: Decimal,
        prompt_tokens: int,
        completion_tokens: int,
        model: str | None = None,
    ) -> Settlement | None:
        """`settle` with what was settled; None when the key was never reserved. `model` replaces the model
        reserved for, when another one (a fallback) answered."""
        if prompt_tokens < 0 or completion_tokens < 0 or cost_usd < 0:
            raise ValueError("usage and cost must be non-negative")
        params = {
            "t": tenant_id,
            "k": key,
            "cost": usd(Decimal(cost_usd)),
            "p": prompt_tokens,
            "c": completion_tokens,
            "model": model,
        }
        budget: Budget | None = None
        spend: Spend | None = None
        async with self._db.tenant_session(tenant_id) as session:
            row = await settle_row(session, params)
            first = row is not None
            if row is None:
                # Nothing moved: the step was settled already (or never reserved at all).
                row = (await select_row(session, tenant_id, key)).first()
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
            await self._tokens.settled(tenant_id, done)
        if first:
            self._observe(tenant_id, done)
            await self._after_change(tenant_id, row.conversation_id, budget, spend)
        return done

    async def refund(self, tenant_id: str, key: str, *, settled_too: bool = True) -> bool:
        """reserved (or settled, for a compensated tool call) -> refunded, once.

        `settled_too=False` gives back only a live reservation: what a failed attempt does, which must not
        undo a settlement another attempt of the same step made meanwhile.
        """
        refundable = {LedgerStatus.RESERVED, LedgerStatus.SETTLED} if settled_too else {LedgerStatus.RESERVED}
        async with self._db.tenant_session(tenant_id) as session:
            row = (await select_row(session, tenant_id, key, lock=True)).first()
            if row is None or row.status not in refundable:
                return False
            await mark_refunded(session, tenant_id, key)
        tokens = int(row.prompt_tokens) + int(row.completion_tokens)
        if row.status == LedgerStatus.SETTLED and tokens:
            await self._tokens.add(tenant_id, f"uncounted:{key}", month_of(row.settled_at), -tokens)
        await self.invalidate(tenant_id)
        return True

    async def expire_reservations(self, tenant_id: str | None = None) -> int:
        """Refund reservations past their expiry: of one tenant, or (through the sweep function) of all."""
        if tenant_id is not None:
            async with self._db.tenant_session(tenant_id) as session:
                expired = await expire_tenant(session, tenant_id)
            if expired:
                await self.invalidate(tenant_id)
            return expired
        total = 0
        while True:
            async with self._db.admin_session() as session:
                batch = await expire_batch(session)
            total += batch
            if batch < SWEEP_BATCH:
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
        await self._modes.put(tenant_id, mode)
        return budget, spend, mode

    async def mode(self, tenant_id: str) -> BudgetMode:
        """The tenant's mode, from a cache a couple of seconds old at most, else from the ledger."""
        cached = await self._modes.get(tenant_id)
        if cached is not None:
            return cached
        async with self._db.tenant_session(tenant_id) as session:
            budget = await load_budget(session, tenant_id)
            spend = None if budget is None or budget.empty else await load_spend(session, tenant_id, self._clock())
        mode = BudgetMode.NORMAL if spend is None else mode_for(budget, spend)
        await self._modes.put(tenant_id, mode)
        return mode

    async def invalidate(self, tenant_id: str) -> None:
        """Forget the cached mode (a budget changed, money was given back): the next read recomputes."""
        await self._modes.forget(tenant_id)

    async def _after_change(
        self, tenant_id: str, conversation_id: str | None, budget: Budget | None, spend: Spend | None
    ) -> None:
        mode = BudgetMode.NORMAL if budget is None or spend is None else mode_for(budget, spend)
        await self._modes.put(tenant_id, mode)
        if budget is not None and spend is not None:
            await self._thresholds.announce(tenant_id, conversation_id, crossings(budget, spend, self._clock()))

    # --- counters and metrics --------------------------------------------------------------

    def _observe(self, tenant_id: str, done: Settlement) -> None:
        tenant = tenant_label(tenant_id)
        TENANT_COST_USD.labels(plan=done.plan, tenant=tenant).inc(float(done.cost_usd))
        if done.kind == LedgerKind.MODEL:
            label = self._model_label(done.model)
            MODEL_TOKENS.labels(kind="prompt", model=label, tenant=tenant).inc(done.prompt_tokens)
            MODEL_TOKENS.labels(kind="completion", model=label, tenant=tenant).inc(done.completion_tokens)
