"""Metering as the activities use it: settle on success, refund on failure, bill a replayed step once."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AbstractAsyncContextManager
from decimal import Decimal

import pytest

from db.database import Database, run_sql
from policies.budgets import Budget, save_budget
from policies.ledger import ledger_key
from policies.metering import Meter, Metering, model_step_key, tool_step_key


async def _row(db: Database, tenant: str, key: str) -> dict[str, object] | None:
    async with db.tenant_session(tenant) as session:
        row = (await run_sql(session, "SELECT * FROM usage_ledger WHERE key = :k", {"k": key})).mappings().first()
        return dict(row) if row is not None else None


def _call(
    metering: Metering, tenant: str, workflow_id: str, message_id: str, step: int = 0
) -> AbstractAsyncContextManager[Meter]:
    return metering.model_call(
        tenant_id=tenant,
        workflow_id=workflow_id,
        step_key=model_step_key(message_id, step),
        conversation_id="conv-1",
        agent="support",
        model="scripted/echo",
        estimate_prompt_tokens=50,
    )


async def test_a_model_call_settles_its_recorded_usage_at_its_price(
    metering: Metering, app_db: Database, tenant: str
) -> None:
    workflow_id, message_id = f"{tenant}:conv:c1", str(uuid.uuid4())
    async with _call(metering, tenant, workflow_id, message_id) as meter:
        row = await _row(app_db, tenant, meter.key)
        assert row is not None and row["status"] == "reserved"
        # The reservation covers the estimated prompt and the longest answer allowed.
        assert row["reserved_usd"] == metering.pricing.estimate("scripted/echo", 50, 256)
        meter.record(120, 30)
    assert meter.settled_now
    row = await _row(app_db, tenant, ledger_key(workflow_id, model_step_key(message_id, 0)))
    assert row is not None
    assert (row["status"], row["prompt_tokens"], row["completion_tokens"], row["agent"], row["model"]) == (
        "settled",
        120,
        30,
        "support",
        "scripted/echo",
    )
    assert row["cost_usd"] == metering.pricing.cost("scripted/echo", 120, 30) == Decimal("0.002100")


async def test_a_failed_attempt_is_refunded_and_the_retry_billed_once(
    metering: Metering, app_db: Database, tenant: str
) -> None:
    workflow_id, message_id = f"{tenant}:conv:c2", str(uuid.uuid4())
    with pytest.raises(RuntimeError, match="provider down"):
        async with _call(metering, tenant, workflow_id, message_id) as meter:
            raise RuntimeError("provider down")
    assert (await _row(app_db, tenant, meter.key) or {})["status"] == "refunded"
    async with _call(metering, tenant, workflow_id, message_id) as retry:
        retry.record(10, 10)
    assert retry.settled_now
    # A replay of the settled step runs unbilled: the ledger keeps the first settlement.
    async with _call(metering, tenant, workflow_id, message_id) as replay:
        assert replay.already_settled
        replay.record(999, 999)
    assert not replay.settled_now
    row = await _row(app_db, tenant, meter.key)
    assert row is not None and (row["status"], row["prompt_tokens"]) == ("settled", 10)
    # A failing replay leaves the settlement alone too.
    with pytest.raises(ValueError):
        async with _call(metering, tenant, workflow_id, message_id):
            raise ValueError("again")
    assert (await _row(app_db, tenant, meter.key) or {})["status"] == "settled"


async def test_a_cancelled_call_is_refunded(metering: Metering, app_db: Database, tenant: str) -> None:
    entered = asyncio.Event()
    keys: list[str] = []

    async def call() -> None:
        async with _call(metering, tenant, f"{tenant}:conv:c3", str(uuid.uuid4())) as meter:
            keys.append(meter.key)
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(call())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await _row(app_db, tenant, keys[0]) or {})["status"] == "refunded"


async def test_a_call_without_reported_usage_bills_the_estimated_prompt(
    metering: Metering, app_db: Database, tenant: str
) -> None:
    async with _call(metering, tenant, f"{tenant}:conv:c4", str(uuid.uuid4())) as meter:
        pass
    row = await _row(app_db, tenant, meter.key)
    assert row is not None and (row["status"], row["prompt_tokens"], row["completion_tokens"]) == ("settled", 50, 0)


async def test_tool_calls_bill_their_price_and_compensation_gives_it_back(
    metering: Metering, app_db: Database, tenant: str
) -> None:
    workflow_id, step = f"{tenant}:conv:c5", tool_step_key(str(uuid.uuid4()), "call-1")
    async with metering.tool_call(
        tenant_id=tenant,
        workflow_id=workflow_id,
        step_key=step,
        conversation_id="c5",
        agent="orders",
        tool="payments.charge",
        cost_usd=0.02,
    ) as meter:
        pass
    row = await _row(app_db, tenant, meter.key)
    assert row is not None
    assert (row["kind"], row["tool"], row["status"], row["cost_usd"]) == (
        "tool",
        "payments.charge",
        "settled",
        Decimal("0.020000"),
    )
    assert await metering.refund_tool(tenant, workflow_id, step)
    assert not await metering.refund_tool(tenant, workflow_id, step)
    assert (await _row(app_db, tenant, meter.key) or {})["status"] == "refunded"


async def test_safe_mode_follows_the_soft_limit(metering: Metering, app_db: Database, tenant: str) -> None:
    assert not await metering.safe_mode(tenant)
    async with app_db.tenant_session(tenant) as session:
        await save_budget(session, tenant, Budget(daily_soft_usd=Decimal("0.001")))
    await metering.guard.invalidate(tenant)
    async with _call(metering, tenant, f"{tenant}:conv:c6", str(uuid.uuid4())) as meter:
        meter.record(1000, 0)
    assert await metering.safe_mode(tenant)
