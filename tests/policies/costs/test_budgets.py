"""Budget modes as spend crosses soft and hard limits, and threshold events announced once each."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

from contracts.events import EventType
from core.events import EventBus
from db.database import Database
from policies.budgets import Budget, BudgetMode, save_budget
from policies.cost_guard import CostGuard
from policies.ledger import LedgerKind, ledger_key

from .conftest import settle_call


async def _set_budget(db: Database, guard: CostGuard, tenant: str, **limits: str) -> None:
    async with db.tenant_session(tenant) as session:
        values: dict[str, Any] = {k: Decimal(v) for k, v in limits.items()}
        await save_budget(session, tenant, Budget(**values))
    await guard.invalidate(tenant)


async def _thresholds(bus: EventBus, tenant: str, *conversations: str) -> list[tuple[str, str, int]]:
    found = []
    for conversation in conversations:
        for event in await bus.history(tenant, conversation):
            if event.type == EventType.BUDGET_THRESHOLD:
                found.append((event.data["period"], event.data["limit"], event.data["percent"]))
    return sorted(found)


async def test_no_budget_is_normal_whatever_the_spend(guard: CostGuard, tenant: str) -> None:
    await settle_call(guard, tenant, "500")
    assert await guard.mode(tenant) == BudgetMode.NORMAL


async def test_mode_goes_normal_safe_blocked_as_spend_crosses_the_limits(
    guard: CostGuard, app_db: Database, tenant: str
) -> None:
    await _set_budget(app_db, guard, tenant, monthly_soft_usd="1.00", monthly_hard_usd="2.00")
    assert await guard.mode(tenant) == BudgetMode.NORMAL
    await settle_call(guard, tenant, "0.60")
    assert await guard.mode(tenant) == BudgetMode.NORMAL
    # The settlement refreshes the cached mode at once, though the cache would keep it for a minute.
    await settle_call(guard, tenant, "0.40")
    assert await guard.mode(tenant) == BudgetMode.SAFE
    await settle_call(guard, tenant, "0.99")
    assert await guard.mode(tenant) == BudgetMode.SAFE
    await settle_call(guard, tenant, "0.01")
    assert await guard.mode(tenant) == BudgetMode.BLOCKED
    # Raising the limit takes effect with the next read.
    await _set_budget(app_db, guard, tenant, monthly_soft_usd="5", monthly_hard_usd="10")
    assert await guard.mode(tenant) == BudgetMode.NORMAL


async def test_live_reservations_count_against_the_daily_limit(guard: CostGuard, app_db: Database, tenant: str) -> None:
    await _set_budget(app_db, guard, tenant, daily_hard_usd="1.00")
    await settle_call(guard, tenant, "0.50")
    key = ledger_key("wf", f"{uuid.uuid4()}:model:0")
    await guard.reserve(
        tenant, key, kind=LedgerKind.MODEL, estimate_usd=Decimal("0.50"), workflow_id="wf",
        conversation_id=None, agent="support", model="scripted/echo",
    )  # fmt: skip
    await guard.invalidate(tenant)
    assert await guard.mode(tenant) == BudgetMode.BLOCKED
    # Given back, the reservation no longer counts.
    assert await guard.refund(tenant, key)
    assert await guard.mode(tenant) == BudgetMode.NORMAL


async def test_each_threshold_is_announced_once_on_the_crossing_conversation(
    guard: CostGuard, app_db: Database, bus: EventBus, tenant: str
) -> None:
    await _set_budget(app_db, guard, tenant, monthly_hard_usd="1.00")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await settle_call(guard, tenant, "0.30", conversation_id=first)
    assert await _thresholds(bus, tenant, first) == []
    await settle_call(guard, tenant, "0.30", conversation_id=first)  # 60 %
    assert await _thresholds(bus, tenant, first) == [("month", "hard", 50)]
    await settle_call(guard, tenant, "0.25", conversation_id=second)  # 85 %
    await settle_call(guard, tenant, "0.05", conversation_id=second)  # 90 %: nothing new
    assert await _thresholds(bus, tenant, second) == [("month", "hard", 80)]
    await settle_call(guard, tenant, "0.20", conversation_id=second)  # 110 %
    await settle_call(guard, tenant, "0.20", conversation_id=first)  # still over: nothing new
    assert await _thresholds(bus, tenant, first, second) == [
        ("month", "hard", 50),
        ("month", "hard", 80),
        ("month", "hard", 100),
    ]
    event = next(e for e in await bus.history(tenant, second) if e.data.get("percent") == 100)
    assert event.data["limit_usd"] == "1.000000" and event.data["spent_usd"] == "1.100000"


async def test_concurrent_settlements_crossing_every_threshold_announce_each_once(
    guard: CostGuard, app_db: Database, bus: EventBus, tenant: str
) -> None:
    await _set_budget(app_db, guard, tenant, daily_soft_usd="0.50", daily_hard_usd="1.00")
    conversation = str(uuid.uuid4())
    await asyncio.gather(*(settle_call(guard, tenant, "0.10", conversation_id=conversation) for _ in range(12)))
    expected = [("day", kind, percent) for kind in ("hard", "soft") for percent in (50, 80, 100)]
    assert await _thresholds(bus, tenant, conversation) == sorted(expected)
    assert await guard.mode(tenant) == BudgetMode.BLOCKED
