"""Order steps of `RefundWorkflow`: begin a refund, complete it, or abort it.

`begin_refund` checks the request (the customer's order, a refundable status, 0 < amount <= total -
refunded, a charge that covers it) and marks the order refund_pending, which also keeps a second refund
from starting meanwhile. `complete_refund` books the paid refund; a full refund of an order that never left
restocks it and cancels its label, so the goods are not both back on the shelf and on their way.
`abort_refund` puts the order back. The last two are idempotent by status: once the order is no longer
refund_pending, a repeat changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from agents.sdk import ToolConflict, ToolContext, ToolInputInvalid, tool
from commerce.saga_steps.common import (
    REFUNDABLE,
    STEP_RETRY,
    STEP_TIMEOUT_SECONDS,
    adjust_stock,
    fault_check,
    load_order,
    set_status,
    state_of,
)
from contracts.agents import Effect
from contracts.sagas import (
    ORDERS_ABORT_REFUND,
    ORDERS_BEGIN_REFUND,
    ORDERS_COMPLETE_REFUND,
    AbortRefundArgs,
    BeginRefundArgs,
    CompleteRefundArgs,
    OrderState,
    RefundStarted,
)
from contracts.tool_calls import idempotency_key
from db.database import run_sql

_HIDDEN: dict[str, Any] = {"agent_visible": False, "timeout_seconds": STEP_TIMEOUT_SECONDS, "retry": STEP_RETRY}


@tool(
    ORDERS_BEGIN_REFUND,
    description="Check a refund request against the customer's order and mark the order refund_pending.",
    effect=Effect.WRITE,
    compensation="tools.orders.abort_refund.v1",
    **_HIDDEN,
)
async def begin_refund(ctx: ToolContext, args: BeginRefundArgs) -> RefundStarted:
    await fault_check(ctx, ORDERS_BEGIN_REFUND)
    async with ctx.session() as session:
        await load_order(session, ctx, args.order_id, lock=False)
    # The payment provider is asked outside the order's transaction: no row stays locked on a remote call.
    charges = await ctx.connector("payments").charges(args.order_id)
    async with ctx.session() as session:
        order = await load_order(session, ctx, args.order_id)
        started = order.refund_started or {}
        if order.status == "refund_pending" and started.get("key") == ctx.idempotency_key:
            # This call's own earlier attempt committed and then died before it answered.
            return RefundStarted(
                order_id=args.order_id,
                previous_status=started["previous_status"],
                charge_id=started["charge_id"],
                amount_cents=int(started["amount_cents"]),
                total_cents=int(order.total_cents),
                refunded_cents=int(order.refunded_cents),
            )
        if order.status not in REFUNDABLE:
            raise ToolConflict(f"order {args.order_id} is {order.status}; it cannot be refunded now")
        refundable = int(order.total_cents) - int(order.refunded_cents)
        if args.amount_cents > refundable:
            raise ToolConflict(
                f"at most {refundable} cents of order {args.order_id} can still be refunded",
                details={"refundable_cents": refundable},
            )
        charge = next((c for c in charges if c.refundable_cents >= args.amount_cents), None)
        if charge is None:
            raise ToolConflict(f"no payment of order {args.order_id} covers a refund of {args.amount_cents} cents")
        record = {
            "key": ctx.idempotency_key,
            "previous_status": order.status,
            "charge_id": charge.id,
            "amount_cents": args.amount_cents,
        }
        await set_status(session, args.order_id, "refund_pending", refund_started=json.dumps(record))
    return RefundStarted(
        order_id=args.order_id,
        previous_status=order.status,
        charge_id=charge.id,
        amount_cents=args.amount_cents,
        total_cents=int(order.total_cents),
        refunded_cents=int(order.refunded_cents),
    )


@tool(
    ORDERS_COMPLETE_REFUND,
    description="Book a paid refund on the order; a full refund of an unshipped order restocks it.",
    effect=Effect.WRITE,
    **_HIDDEN,
)
async def complete_refund(ctx: ToolContext, args: CompleteRefundArgs) -> OrderState:
    await fault_check(ctx, ORDERS_COMPLETE_REFUND)
    async with ctx.session() as session:
        order = await load_order(session, ctx, args.order_id, lock=False)
        restock = order.status == "refund_pending" and await _restocks(session, order, args)
        labels = await _live_labels(session, args.order_id) if restock else []
    for shipment_id, external_ref in labels:
        # Keyed per shipment, so a retried completion cancels each label once.
        await ctx.connector("shipping").cancel_shipment(external_ref, idempotency_key(ctx.idempotency_key, shipment_id))
    async with ctx.session() as session:
        order = await load_order(session, ctx, args.order_id)
        if order.status != "refund_pending":
            # Completed by an earlier attempt: nothing is pending any more.
            return state_of(order)
        refunded = int(order.refunded_cents) + args.amount_cents
        if refunded > int(order.total_cents):
            raise ToolConflict(f"refunding {args.amount_cents} cents would exceed the order total")
        status = "refunded" if refunded == int(order.total_cents) else "partially_refunded"
        if restock and status == "refunded":
            await run_sql(
                session,
                "UPDATE shipments SET status = 'cancelled', updated_at = now()"
                " WHERE order_id = :id AND status = 'created'",
                {"id": args.order_id},
            )
            lines = await run_sql(
                session, "SELECT sku, quantity FROM order_lines WHERE order_id = :id", {"id": args.order_id}
            )
            await adjust_stock(session, {r.sku: int(r.quantity) for r in lines}, on_hand=1, reserved=0)
        await set_status(session, args.order_id, status, refunded_cents=refunded, refund_started=None)
    return state_of(order, status=status, refunded_cents=refunded)


async def _restocks(session: AsyncSession, order: Any, args: CompleteRefundArgs) -> bool:
    """A full refund of an order that never left the warehouse puts its goods back on the shelf."""
    if int(order.refunded_cents) + args.amount_cents != int(order.total_cents):
        return False
    if args.previous_status in ("shipped", "delivered"):
        return False
    moving = await run_sql(
        session,
        "SELECT 1 FROM shipments WHERE order_id = :id AND status IN ('in_transit', 'delivered') LIMIT 1",
        {"id": order.id},
    )
    return moving.first() is None


async def _live_labels(session: AsyncSession, order_id: str) -> list[tuple[str, str]]:
    rows = await run_sql(
        session,
        "SELECT id, external_ref FROM shipments WHERE order_id = :id AND status = 'created'"
        " AND external_ref IS NOT NULL ORDER BY id",
        {"id": order_id},
    )
    return [(r.id, r.external_ref) for r in rows]


@tool(
    ORDERS_ABORT_REFUND,
    description="Put an order whose refund did not happen back to its previous status.",
    effect=Effect.WRITE,
    **_HIDDEN,
)
async def abort_refund(ctx: ToolContext, args: AbortRefundArgs) -> OrderState:
    await fault_check(ctx, ORDERS_ABORT_REFUND)
    if args.previous_status not in REFUNDABLE:
        raise ToolInputInvalid(f"{args.previous_status} is not a status a refund starts from")
    async with ctx.session() as session:
        order = await load_order(session, ctx, args.order_id)
        if order.status != "refund_pending":
            return state_of(order)
        await set_status(session, args.order_id, args.previous_status, refund_started=None)
    return state_of(order, status=args.previous_status)
