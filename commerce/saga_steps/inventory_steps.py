"""Inventory steps of `PlaceOrderWorkflow`: reserve an order's stock (all lines or none), release it.

A reservation row per (key, sku) makes `reserve` idempotent: its rows are inserted before any count moves,
so a repeat of the same key inserts nothing and changes nothing, and a concurrent repeat waits on the first
one's rows. `release` gives back whatever of the order is still held, so it may run any number of times.
"""

from __future__ import annotations

import uuid
from typing import Any

from agents.sdk import ToolConflict, ToolContext, tool
from commerce.saga_steps.common import (
    STEP_RETRY,
    STEP_TIMEOUT_SECONDS,
    adjust_stock,
    fault_check,
    load_order,
)
from contracts.agents import Effect
from contracts.sagas import INVENTORY_RELEASE, INVENTORY_RESERVE, OrderRef, StockChange
from db.database import run_sql

_HIDDEN: dict[str, Any] = {"agent_visible": False, "timeout_seconds": STEP_TIMEOUT_SECONDS, "retry": STEP_RETRY}

_HOLD = """
INSERT INTO reservations (id, tenant_id, order_id, sku, quantity, status, idempotency_key)
VALUES (:id, :tid, :order_id, :sku, :quantity, 'held', :key)
ON CONFLICT (tenant_id, idempotency_key, sku) DO NOTHING RETURNING sku
"""
# Reserve only what is free: the row is updated only when on_hand - reserved covers the quantity.
_TAKE = "UPDATE products SET reserved = reserved + :q WHERE sku = :sku AND on_hand - reserved >= :q RETURNING sku"


@tool(
    INVENTORY_RESERVE,
    description="Reserve stock for every line of a pending order, or for none.",
    effect=Effect.WRITE,
    compensation="tools.inventory.release.v1",
    **_HIDDEN,
)
async def reserve(ctx: ToolContext, args: OrderRef) -> StockChange:
    await fault_check(ctx, INVENTORY_RESERVE)
    async with ctx.session() as session:
        order = await load_order(session, ctx, args.order_id)
        if order.status != "pending":
            raise ToolConflict(f"order {args.order_id} is {order.status}, not pending")
        lines = await run_sql(
            session, "SELECT sku, quantity FROM order_lines WHERE order_id = :id ORDER BY sku", {"id": args.order_id}
        )
        wanted = {r.sku: int(r.quantity) for r in lines}
        held = 0
        for sku, quantity in wanted.items():
            row = await run_sql(
                session,
                _HOLD,
                {
                    "id": str(uuid.uuid4()),
                    "tid": ctx.tenant_id,
                    "order_id": args.order_id,
                    "sku": sku,
                    "quantity": quantity,
                    "key": ctx.idempotency_key,
                },
            )
            held += row.first() is not None
        if held == 0:
            return StockChange(order_id=args.order_id)  # reserved by an earlier attempt
        # Sorted by sku (dict from an ORDER BY): concurrent orders lock products in one order, never deadlock.
        for sku, quantity in wanted.items():
            if (await run_sql(session, _TAKE, {"sku": sku, "q": quantity})).first() is None:
                # Raising rolls the whole transaction back: no line of the order stays reserved.
                free = (
                    await run_sql(
                        session, "SELECT on_hand - reserved AS free FROM products WHERE sku = :sku", {"sku": sku}
                    )
                ).first()
                available = int(free.free) if free is not None else 0
                raise ToolConflict(
                    f"not enough stock of {sku}: {quantity} wanted, {available} available",
                    details={"sku": sku, "wanted": quantity, "available": available},
                )
    return StockChange(order_id=args.order_id, quantities=wanted)


@tool(INVENTORY_RELEASE, description="Give back the stock an order still holds.", effect=Effect.WRITE, **_HIDDEN)
async def release(ctx: ToolContext, args: OrderRef) -> StockChange:
    await fault_check(ctx, INVENTORY_RELEASE)
    async with ctx.session() as session:
        await load_order(session, ctx, args.order_id)
        rows = await run_sql(
            session,
            "UPDATE reservations SET status = 'released', updated_at = now()"
            " WHERE order_id = :id AND status = 'held' RETURNING sku, quantity",
            {"id": args.order_id},
        )
        quantities: dict[str, int] = {}
        for r in rows:
            quantities[r.sku] = quantities.get(r.sku, 0) + int(r.quantity)
        await adjust_stock(session, quantities, on_hand=0, reserved=-1)
    return StockChange(order_id=args.order_id, quantities=quantities)
