"""Shipment steps of `PlaceOrderWorkflow`: buy a label from the carrier and record it, or cancel it.

The carrier answers a repeated key with the same label and the `shipments` row carries the key, so a retry
after either half finds what the first attempt did and completes it instead of shipping twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from agents.sdk import ToolConflict, ToolContext, ToolNotFound, tool
from commerce.saga_steps.common import STEP_RETRY, STEP_TIMEOUT_SECONDS, fault_check, load_order
from contracts.agents import Effect
from contracts.sagas import (
    SHIPMENTS_CANCEL,
    SHIPMENTS_CREATE,
    CancelShipmentArgs,
    OrderRef,
    ShipmentCancelled,
    ShipmentOut,
)
from db.database import run_sql

_HIDDEN: dict[str, Any] = {"agent_visible": False, "timeout_seconds": STEP_TIMEOUT_SECONDS, "retry": STEP_RETRY}
_BY_KEY = "SELECT id, order_id, carrier, tracking_number FROM shipments WHERE idempotency_key = :key"


def _out(row: Any) -> ShipmentOut:
    return ShipmentOut(
        order_id=row.order_id, shipment_id=row.id, carrier=row.carrier, tracking_number=row.tracking_number
    )


@tool(
    SHIPMENTS_CREATE,
    description="Create the shipment of a pending order with the carrier.",
    effect=Effect.WRITE,
    compensation="tools.shipments.cancel.v1",
    **_HIDDEN,
)
async def create(ctx: ToolContext, args: OrderRef) -> ShipmentOut:
    await fault_check(ctx, SHIPMENTS_CREATE)
    async with ctx.session() as session:
        order = await load_order(session, ctx, args.order_id, lock=False)
        existing = (await run_sql(session, _BY_KEY, {"key": ctx.idempotency_key})).first()
    if existing is not None:
        return _out(existing)
    if order.status != "pending":
        raise ToolConflict(f"order {args.order_id} is {order.status}, not pending")
    label = await ctx.connector("shipping").create_shipment(args.order_id, ctx.idempotency_key)
    async with ctx.session() as session:
        await run_sql(
            session,
            "INSERT INTO shipments (id, tenant_id, order_id, carrier, tracking_number, status, external_ref,"
            " idempotency_key) VALUES (:id, :tid, :order_id, :carrier, :tracking, 'created', :ref, :key)"
            " ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
            {
                "id": str(uuid.uuid4()),
                "tid": ctx.tenant_id,
                "order_id": args.order_id,
                "carrier": label.carrier,
                "tracking": label.tracking_number,
                "ref": label.external_ref,
                "key": ctx.idempotency_key,
            },
        )
        row = (await run_sql(session, _BY_KEY, {"key": ctx.idempotency_key})).one()
    return _out(row)


@tool(SHIPMENTS_CANCEL, description="Cancel a shipment that has not left.", effect=Effect.WRITE, **_HIDDEN)
async def cancel(ctx: ToolContext, args: CancelShipmentArgs) -> ShipmentCancelled:
    await fault_check(ctx, SHIPMENTS_CANCEL)
    async with ctx.session() as session:
        await load_order(session, ctx, args.order_id, lock=False)
        row = (
            await run_sql(
                session,
                "SELECT id, status, external_ref FROM shipments WHERE id = :id AND order_id = :order_id",
                {"id": args.shipment_id, "order_id": args.order_id},
            )
        ).first()
    if row is None:
        raise ToolNotFound(f"no shipment {args.shipment_id} for order {args.order_id}")
    if row.status == "cancelled":
        return ShipmentCancelled(shipment_id=row.id, status="cancelled")
    if row.status != "created":
        raise ToolConflict(f"shipment {args.shipment_id} is {row.status}; it can no longer be cancelled")
    if row.external_ref:
        await ctx.connector("shipping").cancel_shipment(row.external_ref, ctx.idempotency_key)
    async with ctx.session() as session:
        await run_sql(
            session,
            "UPDATE shipments SET status = 'cancelled', updated_at = now() WHERE id = :id AND status = 'created'",
            {"id": args.shipment_id},
        )
    return ShipmentCancelled(shipment_id=row.id, status="cancelled")
