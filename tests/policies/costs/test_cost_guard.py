"""The ledger's state machine on the real database: once-only reservation, settlement and refund, expiry,
the month token counter, and isolation between tenants."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from core import metric_labels
from db.database import Database, run_sql
from policies.cost_guard import CostGuard
from policies.ledger import LedgerKind, LedgerStatus, Reservation, ledger_key, month_tokens

from .conftest import settle_call


def _key() -> str:
    return ledger_key(f"wf-{uuid.uuid4().hex[:8]}", f"{uuid.uuid4()}:model:0")


async def _reserve(guard: CostGuard, tenant: str, key: str, *, ttl: float = 600, estimate: str = "0.5") -> Reservation:
    return await guard.reserve(
        tenant,
        key,
        kind=LedgerKind.MODEL,
        estimate_usd=Decimal(estimate),
        workflow_id="wf",
        conversation_id="c-1",
        agent="support",
        model="scripted/echo",
        ttl_seconds=ttl,
    )


async def _rows(db: Database, tenant: str, key: str) -> list[tuple[str, Decimal, int, int]]:
    async with db.tenant_session(tenant) as session:
        result = await run_sql(
            session,
            "SELECT status, cost_usd, prompt_tokens, completion_tokens FROM usage_ledger WHERE key = :k",
            {"k": key},
        )
        return [(row.status, row.cost_usd, row.prompt_tokens, row.completion_tokens) for row in result.all()]


def _tenant_cost(tenant: str) -> float:
    """The settled-spend counter of `tenant`, whatever its plan."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "aiaas_tenant_cost_usd"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("tenant") == tenant
    )


def _month() -> str:
    return datetime.now(UTC).strftime("%Y%m")


async def test_reserve_settle_refund_happy_path(
    guard: CostGuard, app_db: Database, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process has met many tenants by now; this one is named, so its spend has a series of its own.
    monkeypatch.setattr(metric_labels, "_labels", metric_labels.TenantLabels(always=[tenant]))
    key = _key()
    first = await _reserve(guard, tenant, key)
    assert first.created and first.status == LedgerStatus.RESERVED
    assert (await guard.spend(tenant)).reserved_usd == Decimal("0.5")
    before = _tenant_cost(tenant)
    assert await guard.settle(tenant, key, cost_usd=Decimal("0.0123"), prompt_tokens=100, completion_tokens=20)
    assert await _rows(app_db, tenant, key) == [("settled", Decimal("0.012300"), 100, 20)]
    assert _tenant_cost(tenant) - before == pytest.approx(0.0123)
    spend = await guard.spend(tenant)
    assert (spend.day_usd, spend.month_usd, spend.reserved_usd) == (Decimal("0.0123"), Decimal("0.0123"), 0)
    # Settling again, or reserving the settled step again (a replay), changes nothing.
    assert not await guard.settle(tenant, key, cost_usd=Decimal(9), prompt_tokens=9, completion_tokens=9)
    again = await _reserve(guard, tenant, key)
    assert again.settled and not again.created
    assert await _rows(app_db, tenant, key) == [("settled", Decimal("0.012300"), 100, 20)]


async def test_concurrent_attempts_of_one_step_reserve_once_and_settle_once(
    guard: CostGuard, app_db: Database, redis: Redis, tenant: str
) -> None:
    key = _key()
    reservations = await asyncio.gather(*(_reserve(guard, tenant, key) for _ in range(8)))
    assert sum(r.created for r in reservations) == 1
    settled = await asyncio.gather(
        *(guard.settle(tenant, key, cost_usd=Decimal("0.2"), prompt_tokens=7, completion_tokens=3) for _ in range(8))
    )
    assert settled.count(True) == 1
    assert await _rows(app_db, tenant, key) == [("settled", Decimal("0.200000"), 7, 3)]
    assert await month_tokens(redis, tenant, _month()) == 10
    assert (await guard.spend(tenant)).month_usd == Decimal("0.2")


async def test_refund_after_failure_then_a_retry_reserves_and_settles_again(guard: CostGuard, tenant: str) -> None:
    key = _key()
    await _reserve(guard, tenant, key)
    assert await guard.refund(tenant, key)
    assert not await guard.refund(tenant, key)
    assert (await guard.spend(tenant)).reserved_usd == 0
    retry = await _reserve(guard, tenant, key, estimate="0.25")
    assert retry.status == LedgerStatus.RESERVED and not retry.created
    assert (await guard.spend(tenant)).reserved_usd == Decimal("0.25")
    assert await guard.settle(tenant, key, cost_usd=Decimal("0.1"), prompt_tokens=1, completion_tokens=1)


async def test_a_compensated_tool_call_is_refunded_once_and_its_tokens_leave_the_counter(
    guard: CostGuard, app_db: Database, redis: Redis, tenant: str
) -> None:
    key = await settle_call(guard, tenant, "0.3", tokens=(40, 2))
    assert await month_tokens(redis, tenant, _month()) == 42
    results = await asyncio.gather(*(guard.refund(tenant, key) for _ in range(5)))
    assert results.count(True) == 1
    assert await month_tokens(redis, tenant, _month()) == 0
    assert (await _rows(app_db, tenant, key))[0][0] == "refunded"
    assert (await guard.spend(tenant)).month_usd == 0
    # A compensated call stays refunded: it can neither be settled nor reserved again.
    assert not await guard.settle(tenant, key, cost_usd=Decimal(1), prompt_tokens=1, completion_tokens=1)
    assert (await _reserve(guard, tenant, key)).status == LedgerStatus.REFUNDED
    # A failed attempt's refund leaves a settled step alone.
    other = await settle_call(guard, tenant, "0.1")
    assert not await guard.refund(tenant, other, settled_too=False)


async def test_expired_reservations_are_refunded_and_stop_counting(
    guard: CostGuard, app_db: Database, tenant: str, two_tenants: tuple[str, str]
) -> None:
    stale, live = _key(), _key()
    await _reserve(guard, tenant, stale, ttl=0.05, estimate="1")
    await _reserve(guard, tenant, live, ttl=600, estimate="2")
    other_tenant = two_tenants[0]
    foreign = _key()
    await _reserve(guard, other_tenant, foreign, ttl=0.05)
    await asyncio.sleep(0.2)
    # Past its expiry a reservation no longer counts, even before the sweep ran.
    assert (await guard.spend(tenant)).reserved_usd == Decimal(2)
    assert await guard.expire_reservations(tenant) == 1
    assert (await _rows(app_db, tenant, stale))[0][0] == "refunded"
    assert (await _rows(app_db, other_tenant, foreign))[0][0] == "reserved"  # another tenant's: untouched
    # The sweep over every tenant goes through the security-definer function.
    assert await guard.expire_reservations() >= 1
    assert (await _rows(app_db, other_tenant, foreign))[0][0] == "refunded"
    assert (await _rows(app_db, tenant, live))[0][0] == "reserved"
    # A call that outlived its reservation still settles, once.
    assert await guard.settle(tenant, stale, cost_usd=Decimal("0.4"), prompt_tokens=3, completion_tokens=4)
    assert (await _rows(app_db, tenant, stale))[0] == ("settled", Decimal("0.400000"), 3, 4)


async def test_a_settle_without_a_reservation_bills_nothing(guard: CostGuard, tenant: str) -> None:
    assert not await guard.settle(tenant, _key(), cost_usd=Decimal(1), prompt_tokens=1, completion_tokens=1)
    assert (await guard.spend(tenant)).month_usd == 0


async def test_tenants_never_see_each_others_ledger(
    guard: CostGuard, app_db: Database, redis: Redis, two_tenants: tuple[str, str]
) -> None:
    a, b = two_tenants
    key = await settle_call(guard, a, "0.5")
    # The same key under B is B's own row; A's stays as it is.
    assert not await guard.refund(b, key)
    assert await _rows(app_db, b, key) == []
    assert not await guard.settle(b, key, cost_usd=Decimal(1), prompt_tokens=1, completion_tokens=1)
    assert (await guard.spend(b)).month_usd == 0
    assert (await _rows(app_db, a, key))[0][0] == "settled"
    assert await month_tokens(redis, b, _month()) == 0
