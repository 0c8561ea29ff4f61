"""Fault injection at every step of both sagas: what failed is undone, what flickered is retried, and what
cannot be undone is handed to a person. Each case checks the world itself, not the saga's account of it."""

from __future__ import annotations

import pytest

from commerce.connectors.faults import inject_fault
from contracts.sagas import (
    INVENTORY_RELEASE,
    ORDERS_COMPLETE_REFUND,
    ORDERS_CREATE_PENDING,
    ORDERS_MARK_FAILED,
    PAYMENTS_REFUND,
    SHIPMENTS_CANCEL,
    SagaStatus,
)
from contracts.tool_calls import ToolCallResult, ToolStatus
from db.database import run_sql
from tests.commerce.sagas.cases import (
    COMPENSATION_FAULTS,
    PLACE,
    STEP_FAULTS,
    TRANSIENT_FAULTS,
    CompensationFault,
    StepFault,
)
from tests.commerce.sagas.harness import SagaEnv, Shop, World, event_types, events, place, run_saga, saga_call, world


async def _placed(env: SagaEnv, shop: Shop) -> tuple[str, int]:
    _run, result = await place(env, shop)
    assert result.status == ToolStatus.OK, result
    return result.output["order_id"], result.output["total_cents"]


async def _refund(env: SagaEnv, shop: Shop, order_id: str, amount: int) -> tuple[str, ToolCallResult]:
    run = saga_call(shop, "orders.refund", {"order_id": order_id, "amount_cents": amount, "reason": "late"})
    return run.conversation_id, await run_saga(env, run)


def _new_order(before: World, after: World) -> str | None:
    created = set(after.orders) - set(before.orders)
    assert len(created) <= 1
    return created.pop() if created else None


async def _faults_left(env: SagaEnv, shop: Shop) -> int:
    async with env.db.tenant_session(shop.tenant_id) as session:
        return int((await run_sql(session, "SELECT count(*) FROM sandbox_faults")).scalar_one())


@pytest.mark.parametrize("case", STEP_FAULTS, ids=lambda c: c.id)
async def test_a_failed_step_leaves_the_world_as_it_was(env: SagaEnv, shop: Shop, case: StepFault) -> None:
    if case.saga == PLACE:
        before = await world(env.db, shop.tenant_id)
        await inject_fault(env.db, shop.tenant_id, case.step, mode="fail")
        run, result = await place(env, shop)
        conversation_id = run.conversation_id
    else:
        order_id, total = await _placed(env, shop)
        before = await world(env.db, shop.tenant_id)
        await inject_fault(env.db, shop.tenant_id, case.step, mode="fail")
        conversation_id, result = await _refund(env, shop, order_id, total // 2)
    after = await world(env.db, shop.tenant_id)
    types = await event_types(env, shop.tenant_id, conversation_id)
    assert result.status == ToolStatus.ERROR
    assert result.output["failed_step"] == case.step

    if case.saga == PLACE:
        assert result.error_type == "InjectedFailure" and result.output["saga_status"] == SagaStatus.COMPENSATED
        new = _new_order(before, after)
        assert (new is None) == (case.step == ORDERS_CREATE_PENDING)
        assert after.stock == before.stock and after.held == 0
        if new is not None:
            assert after.orders[new] == ("failed", 0)
            assert after.net_charged.get(new, 0) == 0
            assert set(after.shipments.get(new, [])) <= {"cancelled"}
            assert set(after.labels.get(new, [])) <= {"cancelled"}
        assert after.tickets == before.tickets
    elif case.step != ORDERS_COMPLETE_REFUND:
        assert result.error_type == "InjectedFailure" and result.output["saga_status"] == SagaStatus.COMPENSATED
        assert after == before  # status restored, nothing refunded, stock and labels untouched
    else:
        # Past the point of no return the money is back with the customer: the order stays refund_pending
        # (refunded amount unchanged) and a person finishes it, rather than the order denying the refund.
        assert result.output["saga_status"] == SagaStatus.NEEDS_ATTENTION
        assert after.orders[order_id] == ("refund_pending", 0)
        assert after.net_charged[order_id] == total - total // 2 and after.refunds[order_id] == 1
        assert [kind for kind, _ in after.tickets] == ["needs_attention"]
        assert types.count("saga.needs_attention") == 1 and "saga.compensating" not in types
        return
    assert types.count("saga.compensating") == 1 and types.count("saga.compensated") == 1
    assert "saga.needs_attention" not in types


@pytest.mark.parametrize("case", TRANSIENT_FAULTS, ids=lambda c: c.id)
async def test_transient_failures_are_retried_to_completion(env: SagaEnv, shop: Shop, case: StepFault) -> None:
    if case.saga == PLACE:
        await inject_fault(env.db, shop.tenant_id, case.step, mode="transient", times=2)
        run, result = await place(env, shop)
        conversation_id, order_id = run.conversation_id, result.output.get("order_id", "")
    else:
        order_id, total = await _placed(env, shop)
        await inject_fault(env.db, shop.tenant_id, case.step, mode="transient", times=2)
        conversation_id, result = await _refund(env, shop, order_id, total)
    assert result.status == ToolStatus.OK, result
    assert result.output["saga_status"] == SagaStatus.COMPLETED
    assert await _faults_left(env, shop) == 0  # both transient failures were met, and retried past
    after = await world(env.db, shop.tenant_id)
    assert after.charges[order_id] == 1 and len(after.labels[order_id]) == 1 and len(after.shipments[order_id]) == 1
    assert after.refunds.get(order_id, 0) == (0 if case.saga == PLACE else 1)
    attempts = [
        data["attempt"]
        for kind, data in await events(env, shop.tenant_id, conversation_id)
        if kind == "tool.started" and data["tool"] == case.step
    ]
    assert attempts == [1, 2, 3]


@pytest.mark.parametrize("case", COMPENSATION_FAULTS, ids=lambda c: c.id)
async def test_a_compensation_that_keeps_failing_goes_to_a_person(
    env: SagaEnv, shop: Shop, case: CompensationFault
) -> None:
    if case.saga == PLACE:
        before = await world(env.db, shop.tenant_id)
        await inject_fault(env.db, shop.tenant_id, case.failing_step, mode="fail")
        await inject_fault(env.db, shop.tenant_id, case.compensation, mode="fail", times=-1)
        run, result = await place(env, shop)
        conversation_id = run.conversation_id
    else:
        order_id, total = await _placed(env, shop)
        before = await world(env.db, shop.tenant_id)
        await inject_fault(env.db, shop.tenant_id, case.failing_step, mode="fail")
        await inject_fault(env.db, shop.tenant_id, case.compensation, mode="fail", times=-1)
        conversation_id, result = await _refund(env, shop, order_id, total)
    out = result.output
    assert result.status == ToolStatus.ERROR and result.error_type == "SagaNeedsAttention"
    assert out["saga_status"] == SagaStatus.NEEDS_ATTENTION and out["failed_step"] == case.failing_step
    assert len(out["failed_compensations"]) == 1 and out["ticket_id"]
    after = await world(env.db, shop.tenant_id)
    order_id = out["order_id"]
    tickets = [body for kind, body in after.tickets if kind == "needs_attention"]
    assert len(tickets) == 1
    assert case.saga in tickets[0] and order_id in tickets[0] and case.failing_step in tickets[0]

    if case.saga == PLACE:
        # Every other compensation still ran.
        assert len(out["compensated"]) == 3
        undone = {
            SHIPMENTS_CANCEL: after.labels[order_id] == ["cancelled"] and after.shipments[order_id] == ["cancelled"],
            PAYMENTS_REFUND: after.net_charged[order_id] == 0,
            INVENTORY_RELEASE: after.held == 0 and after.stock == before.stock,
            ORDERS_MARK_FAILED: after.orders[order_id][0] == "failed",
        }
        assert undone.pop(case.compensation) is False
        assert all(undone.values()), undone
    else:
        assert after.orders[order_id] == ("refund_pending", 0)
        assert after.net_charged == before.net_charged
    types = await event_types(env, shop.tenant_id, conversation_id)
    assert [t for t in types if t.startswith("saga.")] == [
        "saga.compensating",
        "saga.compensated",
        "saga.needs_attention",
    ]
