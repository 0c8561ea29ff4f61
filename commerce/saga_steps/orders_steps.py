"""Order steps of `PlaceOrderWorkflow`: create the pending order, confirm it, or mark it failed.

`create_pending` is idempotent by its key (the order row carries it); the others by the status they move:
a repeat finds the order already where the first call left it and answers the same.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from agents.sdk import ToolConflict, ToolContext, ToolInputInvalid, ToolTransientError, tool
from agents.sealed_records import ORDERS, write_fields
from commerce.saga_steps.common import (
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
    ORDERS_CONFIRM,
    ORDERS_CREATE_PENDING,
    ORDERS_MARK_FAILED,
    MarkFailedArgs,
    OrderLine,
    OrderRef,
    OrderState,
    PendingOrder,
    PlaceOrderArgs,
)
from db.database import run_sql

_HIDDEN: dict[str, Any] = {"agent_visible": False, "timeout_seconds": STEP_TIMEOUT_SECONDS, "retry": STEP_RETRY}


async def _pending_order(session: AsyncSession, key: str) -> PendingOrder | None:
    order = (
        await run_sql(
            session, "SELECT id, total_cents, currency FROM orders WHERE idempotency_key = :key", {"key": key}
        )
    ).first()
    if order is None:
        return None
    lines = await run_sql(
        session,
        "SELECT sku, quantity, unit_price_cents FROM order_lines WHERE order_id = :id ORDER BY sku",
        {"id": order.id},
    )
    return PendingOrder(
        order_id=order.id,
        total_cents=int(order.total_cents),
        currency=order.currency,
        lines=[OrderLine(sku=r.sku, quantity=int(r.quantity), unit_price_cents=int(r.unit_price_cents)) for r in lines],
    )


@tool(
    ORDERS_CREATE_PENDING,
    description="Create the customer's order as pending, lines priced from the catalog.",
    effect=Effect.WRITE,
    compensation="tools.orders.mark_failed.v1",
    **_HIDDEN,
)
async def create_pending(ctx: ToolContext, args: PlaceOrderArgs) -> PendingOrder:
    await fault_check(ctx, ORDERS_CREATE_PENDING)
    customer = ctx.require_customer()
    async with ctx.session() as session:
        existing = await _pending_order(session, ctx.idempotency_key)
        if existing is not None:
            return existing
        known = (await run_sql(session, "SELECT 1 FROM customers WHERE id = :id", {"id": customer})).first()
        if known is None:
            raise ToolInputInvalid("the conversation's customer does not exist")
        skus = [item.sku for item in args.items]
        prices = {
            r.sku: int(r.price_cents)
            for r in await run_sql(
                session, "SELECT sku, price_cents FROM products WHERE sku = ANY(:skus)", {"skus": skus}
            )
        }
        unknown = [sku for sku in skus if sku not in prices]
        if unknown:
            raise ToolInputInvalid(f"unknown sku: {', '.join(unknown)}", details={"unknown": unknown})
        order_id = str(uuid.uuid4())
        total = sum(prices[item.sku] * item.quantity for item in args.items)
        inserted = (
            await run_sql(
                session,
                "INSERT INTO orders (id, tenant_id, customer_id, status, total_cents, idempotency_key)"
                " VALUES (:id, :tid, :customer, 'pending', :total, :key)"
                " ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id",
                {
                    "id": order_id,
                    "tid": ctx.tenant_id,
                    "customer": customer,
                    "total": total,
                    "key": ctx.idempotency_key,
                },
            )
        ).first()
        if inserted is None:
            # A concurrent attempt with the same key got there first; the next attempt reads its order.
            raise ToolTransientError("the order is being created by another attempt")
        for item in args.items:
            await run_sql(
                session,
                "INSERT INTO order_lines (tenant_id, order_id, sku, quantity, unit_price_cents)"
                " VALUES (:tid, :order_id, :sku, :quantity, :price)",
                {
                    "tid": ctx.tenant_id,
                    "order_id": order_id,
                    "sku": item.sku,
                    "quantity": item.quantity,
                    "price": prices[item.sku],
                },
            )
    return PendingOrder(
        order_id=order_id,
        total_cents=total,
        lines=[OrderLine(sku=i.sku, quantity=i.quantity, unit_price_cents=prices[i.sku]) for i in args.items],
    )


@tool(
    ORDERS_CONFIRM, description="Place the pending order and commit its reserved stock.", effect=Effect.WRITE, **_HIDDEN
)
async def confirm(ctx: ToolContext, args: OrderRef) -> OrderState:
    await fault_check(ctx, ORDERS_CONFIRM)
    async with ctx.session() as session:
        order = await load_order(session, ctx, args.order_id)
        if order.status != "pending":
            if order.status == "placed":
                return state_of(order)
            raise ToolConflict(f"order {args.order_id} is {order.status}, not pending")
        held = await run_sql(
            session,
            "UPDATE reservations SET status = 'committed', updated_at = now()"
            " WHERE order_id = :id AND status = 'held' RETURNING sku, quantity",
            {"id": args.order_id},
        )
        quantities = {r.sku: int(r.quantity) for r in held}
        if not quantities:
            raise ToolConflict(f"order {args.order_id} has no reserved stock to commit")
        # The goods leave the shelf: what was held is no longer on hand, nor reserved.
        await adjust_stock(session, quantities, on_hand=-1, reserved=-1)
        await set_status(session, args.order_id, "placed")
    return state_of(order, status="placed")


@tool(ORDERS_MARK_FAILED, description="Mark a pending order failed.", effect=Effect.WRITE, **_HIDDEN)
async def mark_failed(ctx: ToolContext, args: MarkFailedArgs) -> OrderState:
    await fault_check(ctx, ORDERS_MARK_FAILED)
    async with ctx.session() as session:
        order = await load_order(session, ctx, args.order_id)
        if order.status == "failed":
            return state_of(order)
        if order.status != "pending":
            raise ToolConflict(f"order {args.order_id} is {order.status}; only a pending order can fail")
        await set_status(session, args.order_id, "failed")
        # Why the saga failed may quote the customer: sealed like the note it replaces.
        await write_fields(session, ctx.tenant_id, ORDERS, args.order_id, {"note": args.reason})
    return state_of(order, status="failed")
