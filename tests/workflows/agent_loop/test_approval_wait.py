"""Waiting for a human, on the time-skipping server: a day without a decision expires the request, and an
interrupted turn stops waiting; in both cases nothing is refunded and no late decision is taken."""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from agents.sealed_records import APPROVALS, open_fields
from agents.steps import turn_steps
from commerce.sagas import REFUND_ORDER
from contracts.agents import ApprovalDecisionKind
from contracts.conversation import ConversationStatus, DoubleTexting
from db.database import run_sql
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, call, decide, plan, rows, send, start, turns_done, until
from workflows.approval_gate import EXPIRED_NOTE, INTERRUPTED_NOTE

REFUND_CENTS = 10_500


async def _refunds(loop: Loop, order_id: str) -> list[dict]:
    return await rows(
        loop.db,
        loop.tenant_id,
        "SELECT amount_cents FROM sandbox_payments WHERE order_id = :o AND kind = 'refund'",
        o=order_id,
    )


async def _approval(loop: Loop, approval_id: str) -> dict:
    async with loop.db.tenant_session(loop.tenant_id) as session:
        found = (
            await run_sql(
                session,
                f"SELECT status, decided_at, {APPROVALS.columns} FROM approvals WHERE id = :id",
                {"id": approval_id},
            )
        ).all()
        assert len(found) == 1
        # The note and arguments are sealed: SQL reads them blank.
        assert (found[0].note, found[0].arguments) == ("", {})
        opened = await open_fields(session, APPROVALS, found[0])
    return {"status": found[0].status, "decided_at": found[0].decided_at, "note": opened["note"]}


async def test_an_approval_nobody_decides_expires_and_nothing_is_refunded(loop: Loop) -> None:
    demo = loop.demo
    handle = await start(loop, "orders", demo.ada_id)
    placed = await send(handle, plan(call("orders.place", items=[{"sku": "SKU-HOODIE", "quantity": 2}])))
    await turns_done(handle, 1)
    assert await answer(loop, placed) == "done: orders.place=ok"
    # A call's output is sealed at rest: read through the module that opens it, not its clear column.
    async with loop.db.tenant_session(loop.tenant_id) as session:
        placed_steps = await turn_steps(session, placed)
    order_ids = {str(s.output["order_id"]) for s in placed_steps if s.tool == "orders.place" and s.status == "ok"}
    assert len(order_ids) == 1, placed_steps
    order_id = order_ids.pop()
    assert await rows(loop.db, loop.tenant_id, "SELECT id FROM orders WHERE id = :o", o=order_id)

    asked = await send(handle, plan(call("orders.refund", order_id=order_id, amount_cents=REFUND_CENTS, reason="late")))
    waiting = await until(handle, lambda s: bool(s.pending_approvals))
    assert waiting.status == ConversationStatus.AWAITING_APPROVAL
    approval_id = waiting.pending_approvals[0]
    assert (await _approval(loop, approval_id))["status"] == "pending"

    # A day passes (the rule's deadline) without a decision.
    assert REFUND_ORDER.spec.approval is not None
    await loop.env.sleep(timedelta(seconds=REFUND_ORDER.spec.approval.timeout_seconds + 1))
    await turns_done(handle, 2)

    assert await answer(loop, asked) == "done: orders.refund=denied"
    resolved = await _approval(loop, approval_id)
    assert resolved["status"] == "expired" and resolved["note"] == EXPIRED_NOTE and resolved["decided_at"]
    assert await _refunds(loop, order_id) == []
    steps = await rows(
        loop.db, loop.tenant_id, "SELECT status, error_type FROM tool_calls WHERE message_id = :m", m=asked
    )
    assert steps == [{"status": "denied", "error_type": "NotApproved"}]
    # A decision arriving after the deadline is refused by the workflow itself.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await decide(handle, approval_id, ApprovalDecisionKind.APPROVE)
    assert getattr(refused.value.cause, "type", None) == "ApprovalAlreadyDecided"


async def test_an_interrupt_stops_the_wait_and_the_approval_cannot_be_used(loop: Loop) -> None:
    demo = loop.demo
    handle = await start(loop, "orders", demo.ada_id, double_texting=DoubleTexting.INTERRUPT)
    refund = call("orders.refund", order_id=demo.ada_placed_order_id, amount_cents=REFUND_CENTS, reason="x")
    await send(handle, plan(refund))
    waiting = await until(handle, lambda s: bool(s.pending_approvals))
    approval_id = waiting.pending_approvals[0]

    with pytest.raises(WorkflowUpdateFailedError) as unknown:
        await decide(handle, "not-an-approval", ApprovalDecisionKind.APPROVE)
    assert getattr(unknown.value.cause, "type", None) == "ApprovalNotFound"

    second = await send(handle, "never mind")
    await turns_done(handle, 1)
    assert await answer(loop, second) == "echo: never mind"
    resolved = await _approval(loop, approval_id)
    assert resolved["status"] == "expired" and resolved["note"] == INTERRUPTED_NOTE
    assert (await until(handle, lambda s: s.current_message_id is None)).pending_approvals == []
    with pytest.raises(WorkflowUpdateFailedError) as late:
        await decide(handle, approval_id, ApprovalDecisionKind.APPROVE)
    assert getattr(late.value.cause, "type", None) == "ApprovalAlreadyDecided"
    assert await _refunds(loop, demo.ada_placed_order_id) == []
