"""Priced saga steps are billed once, and a compensation that undoes a step gives its charge back.

The platform's tools are re-registered with prices on two steps (`payments.charge`, `shipments.create`), as a
tenant's own priced tools would be, and a worker that meters them runs the sagas. The ledger is read back
from Postgres, the tenant's spend from the cost guard.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from agents.sdk import ToolRegistry
from app.tools import platform_registry
from commerce.connectors.faults import inject_fault
from contracts.sagas import PAYMENTS_CHARGE, PAYMENTS_REFUND, SHIPMENTS_CREATE, SagaStatus
from contracts.tool_calls import ToolStatus
from core.events import EventBus
from core.settings import Settings
from db.database import run_sql
from policies.cost_guard import CostGuard
from tests.commerce.sagas.harness import SagaEnv, Shop, new_shop, place, saga_env

PRICES = {PAYMENTS_CHARGE: Decimal("0.25"), SHIPMENTS_CREATE: Decimal("0.10")}


def priced_registry() -> ToolRegistry:
    registry = ToolRegistry()
    for item in platform_registry().all():
        price = PRICES.get(item.spec.name)
        if price is not None:
            item = dataclasses.replace(item, spec=item.spec.model_copy(update={"cost_usd": float(price)}))
        registry.register(item)
    return registry


@pytest.fixture
async def metered(saga_settings: Settings) -> AsyncIterator[SagaEnv]:
    queue = f"sagas-metered-{uuid.uuid4().hex[:8]}"
    async with saga_env(saga_settings, task_queue=queue, metered=True, registry=priced_registry()) as running:
        assert running.worker is not None
        async with running.worker:
            yield running


@pytest.fixture
async def metered_shop(metered: SagaEnv) -> Shop:
    return await new_shop(metered.settings, metered.db, "Metered shop")


async def ledger(env: SagaEnv, tenant_id: str) -> dict[str, list[tuple[str, Decimal]]]:
    """tool -> (status, cost) of each of its ledger rows."""
    async with env.db.tenant_session(tenant_id) as session:
        rows = (await run_sql(session, "SELECT tool, status, cost_usd FROM usage_ledger ORDER BY created_at")).all()
    found: dict[str, list[tuple[str, Decimal]]] = {}
    for row in rows:
        found.setdefault(row.tool, []).append((row.status, Decimal(row.cost_usd)))
    return found


async def spent(env: SagaEnv, tenant_id: str) -> Decimal:
    redis = Redis.from_url(env.settings.redis_url or "")
    try:
        spend = await CostGuard(env.db, redis, EventBus(redis)).spend(tenant_id)
    finally:
        await redis.aclose()
    return Decimal(str(spend.month_usd))


async def test_a_completed_order_bills_each_priced_step_once(metered: SagaEnv, metered_shop: Shop) -> None:
    _run, result = await place(metered, metered_shop)

    assert result.status == ToolStatus.OK, result
    rows = await ledger(metered, metered_shop.tenant_id)
    assert rows == {
        PAYMENTS_CHARGE: [("settled", PRICES[PAYMENTS_CHARGE])],
        SHIPMENTS_CREATE: [("settled", PRICES[SHIPMENTS_CREATE])],
    }
    assert await spent(metered, metered_shop.tenant_id) == sum(PRICES.values())


async def test_undoing_a_charged_step_gives_its_charge_back(metered: SagaEnv, metered_shop: Shop) -> None:
    await inject_fault(metered.db, metered_shop.tenant_id, SHIPMENTS_CREATE, mode="fail")
    _run, result = await place(metered, metered_shop)

    assert result.output["saga_status"] == SagaStatus.COMPENSATED, result
    rows = await ledger(metered, metered_shop.tenant_id)
    # The charge went through and was refunded by the compensation; the failed shipment was never billed.
    assert rows == {
        PAYMENTS_CHARGE: [("refunded", PRICES[PAYMENTS_CHARGE])],
        SHIPMENTS_CREATE: [("refunded", Decimal(0))],
    }
    assert await spent(metered, metered_shop.tenant_id) == 0


async def test_a_compensation_that_fails_leaves_the_charge_standing(metered: SagaEnv, metered_shop: Shop) -> None:
    await inject_fault(metered.db, metered_shop.tenant_id, SHIPMENTS_CREATE, mode="fail")
    await inject_fault(metered.db, metered_shop.tenant_id, PAYMENTS_REFUND, mode="fail", times=-1)
    _run, result = await place(metered, metered_shop)

    assert result.output["saga_status"] == SagaStatus.NEEDS_ATTENTION, result
    rows = await ledger(metered, metered_shop.tenant_id)
    # The payment was not undone, so neither is its charge: the person who finishes the refund decides.
    assert rows[PAYMENTS_CHARGE] == [("settled", PRICES[PAYMENTS_CHARGE])]
    assert await spent(metered, metered_shop.tenant_id) == PRICES[PAYMENTS_CHARGE]
