"""Fault injection: each mode does what it says, uses are counted across transactions, tenants stay apart."""

from __future__ import annotations

import pytest

from agents.sdk import ToolTransientError
from commerce.connectors.faults import InjectedFailure, check_fault, clear_faults, inject_fault
from db.database import Database, run_sql
from tests.activities.tools.conftest import scalar


async def _remaining(db: Database, tenant: str, operation: str) -> list[int]:
    async with db.tenant_session(tenant) as session:
        result = await run_sql(
            session, "SELECT remaining FROM sandbox_faults WHERE operation = :op ORDER BY id", {"op": operation}
        )
        return [int(r) for r in result.scalars()]


async def test_without_a_fault_nothing_happens(db: Database, tenant: str) -> None:
    await check_fault(db, tenant, "payments.charge")


async def test_fail_raises_a_permanent_error_as_often_as_asked(db: Database, tenant: str) -> None:
    await inject_fault(db, tenant, "payments.charge", mode="fail", times=2)
    for _ in range(2):
        with pytest.raises(InjectedFailure) as raised:
            await check_fault(db, tenant, "payments.charge")
        assert raised.value.type == "InjectedFailure" and raised.value.retryable is False
    await check_fault(db, tenant, "payments.charge")
    assert await _remaining(db, tenant, "payments.charge") == []


async def test_transient_raises_a_retryable_error(db: Database, tenant: str) -> None:
    await inject_fault(db, tenant, "shipments.create", mode="transient")
    with pytest.raises(ToolTransientError) as raised:
        await check_fault(db, tenant, "shipments.create")
    assert raised.value.retryable is True
    await check_fault(db, tenant, "shipments.create")


async def test_latency_delays_without_failing_and_is_used_up(db: Database, tenant: str) -> None:
    await inject_fault(db, tenant, "crm.upsert_contact", mode="latency", times=1, latency_ms=20)
    await check_fault(db, tenant, "crm.upsert_contact")
    assert await _remaining(db, tenant, "crm.upsert_contact") == []


async def test_faults_only_meet_their_operation(db: Database, tenant: str) -> None:
    await inject_fault(db, tenant, "payments.refund", mode="fail")
    await check_fault(db, tenant, "payments.charge")
    await check_fault(db, tenant, "tickets.create")
    assert await _remaining(db, tenant, "payments.refund") == [1]


async def test_forever_lasts_until_cleared(db: Database, tenant: str) -> None:
    await inject_fault(db, tenant, "tickets.create", mode="fail", times=-1)
    for _ in range(3):
        with pytest.raises(InjectedFailure):
            await check_fault(db, tenant, "tickets.create")
    assert await _remaining(db, tenant, "tickets.create") == [-1]
    await clear_faults(db, tenant)
    await check_fault(db, tenant, "tickets.create")


async def test_faults_are_met_in_the_order_injected(db: Database, tenant: str) -> None:
    await inject_fault(db, tenant, "orders.confirm", mode="transient")
    await inject_fault(db, tenant, "orders.confirm", mode="fail")
    with pytest.raises(ToolTransientError):
        await check_fault(db, tenant, "orders.confirm")
    with pytest.raises(InjectedFailure):
        await check_fault(db, tenant, "orders.confirm")
    await check_fault(db, tenant, "orders.confirm")


async def test_a_use_stays_spent_when_the_callers_transaction_rolls_back(db: Database, tenant: str) -> None:
    await inject_fault(db, tenant, "inventory.reserve", mode="fail", times=1)

    class StepFailed(Exception):
        pass

    with pytest.raises(StepFailed):
        async with db.tenant_session(tenant) as session:
            await run_sql(session, "SELECT 1")
            try:
                await check_fault(db, tenant, "inventory.reserve")
            except InjectedFailure:
                raise StepFailed from None
    # The retry of the step goes through: the fault was consumed in a transaction of its own.
    await check_fault(db, tenant, "inventory.reserve")


async def test_tenants_do_not_share_faults(db: Database, tenant: str, other_tenant: str) -> None:
    await inject_fault(db, tenant, "payments.charge", mode="fail", times=-1)
    await check_fault(db, other_tenant, "payments.charge")
    await clear_faults(db, other_tenant)
    assert await scalar(db, tenant, "SELECT count(*) FROM sandbox_faults") == 1


@pytest.mark.parametrize(
    ("operation", "mode", "times", "latency_ms"),
    [
        ("payments", "fail", 1, 0),
        ("Payments.Charge", "fail", 1, 0),
        ("payments.charge; DROP TABLE orders", "fail", 1, 0),
        ("payments.charge", "explode", 1, 0),
        ("payments.charge", "fail", 0, 0),
        ("payments.charge", "fail", -2, 0),
        ("payments.charge", "latency", 1, -1),
        ("payments.charge", "latency", 1, 600_001),
    ],
)
async def test_bad_injections_are_refused(
    db: Database, tenant: str, operation: str, mode: str, times: int, latency_ms: int
) -> None:
    with pytest.raises(ValueError):
        await inject_fault(db, tenant, operation, mode=mode, times=times, latency_ms=latency_ms)
    assert await scalar(db, tenant, "SELECT count(*) FROM sandbox_faults") == 0
