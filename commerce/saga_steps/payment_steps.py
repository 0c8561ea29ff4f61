"""Payment steps: charge an order's total, refund (part of) a charge, both through the payments connector.

The connector answers a repeated idempotency key with the first call's result, which is what makes these
steps safe to retry; the order is read in a short transaction of its own, never held across the remote call.
"""

from __future__ import annotations

from typing import Any

from agents.sdk import ToolConflict, ToolContext, tool
from commerce.saga_steps.common import STEP_RETRY, STEP_TIMEOUT_SECONDS, fault_check, load_order
from contracts.agents import Effect
from contracts.sagas import PAYMENTS_CHARGE, PAYMENTS_REFUND, ChargeOut, OrderRef, RefundOut, RefundPaymentArgs

_HIDDEN: dict[str, Any] = {"agent_visible": False, "timeout_seconds": STEP_TIMEOUT_SECONDS, "retry": STEP_RETRY}


@tool(
    PAYMENTS_CHARGE,
    description="Charge the total of a pending order.",
    effect=Effect.WRITE,
    compensation="tools.payments.refund.v1",
    **_HIDDEN,
)
async def charge(ctx: ToolContext, args: OrderRef) -> ChargeOut:
    await fault_check(ctx, PAYMENTS_CHARGE)
    async with ctx.session() as session:
        order = await load_order(session, ctx, args.order_id, lock=False)
    if order.status != "pending":
        raise ToolConflict(f"order {args.order_id} is {order.status}, not pending")
    if int(order.total_cents) == 0:
        raise ToolConflict(f"order {args.order_id} has nothing to charge")
    paid = await ctx.connector("payments").charge(args.order_id, int(order.total_cents), ctx.idempotency_key)
    return ChargeOut(order_id=args.order_id, charge_id=paid.id, amount_cents=paid.amount_cents)


@tool(PAYMENTS_REFUND, description="Refund part or all of a charge.", effect=Effect.IRREVERSIBLE, **_HIDDEN)
async def refund(ctx: ToolContext, args: RefundPaymentArgs) -> RefundOut:
    await fault_check(ctx, PAYMENTS_REFUND)
    async with ctx.session() as session:
        await load_order(session, ctx, args.order_id, lock=False)
    paid = await ctx.connector("payments").refund(args.charge_id, args.order_id, args.amount_cents, ctx.idempotency_key)
    return RefundOut(order_id=args.order_id, refund_id=paid.id, amount_cents=paid.amount_cents)
