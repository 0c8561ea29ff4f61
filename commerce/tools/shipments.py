"""`shipments.track`: where the customer's order is, by the shipments recorded for it."""

from __future__ import annotations

from pydantic import Field

from agents.sdk import ToolContext, tool
from commerce.tools.common import (
    READ_RETRY,
    READ_TIMEOUT_SECONDS,
    Args,
    Out,
    TrackingOut,
    UuidStr,
    owned_order,
    shipments_of,
)
from contracts.agents import Effect


class TrackShipmentArgs(Args):
    order_id: UuidStr = Field(description="the order whose shipments to track")


class TrackingResult(Out):
    order_id: str
    order_status: str
    shipments: list[TrackingOut] = Field(description="empty when nothing has shipped yet")


@tool(
    "shipments.track",
    description=(
        "Track the shipments of one of the customer's orders: carrier, tracking number and status of each. "
        "An empty list means the order has not shipped yet."
    ),
    effect=Effect.READ,
    timeout_seconds=READ_TIMEOUT_SECONDS,
    retry=READ_RETRY,
)
async def track_shipment(ctx: ToolContext, args: TrackShipmentArgs) -> TrackingResult:
    customer_id = ctx.require_customer()
    async with ctx.session() as session:
        order = await owned_order(session, customer_id, args.order_id)
        shipments = (await shipments_of(session, [order.id]))[order.id]
    return TrackingResult(order_id=order.id, order_status=order.status, shipments=shipments)
