"""Contracts of the commerce sagas: the agent-facing arguments, each step tool's input and output, outcomes.

Loaded inside the workflow sandbox (pure, no side effects) and by the step tools in
`commerce/saga_steps/`, so a workflow and the tool it calls agree on one schema. Types cross the
Temporal boundary, so they change by adding fields with defaults only.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator

from contracts.base import Frozen

SKU = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ORDER_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MAX_LINES = 20
MAX_QUANTITY = 100
MAX_AMOUNT_CENTS = 100_000_000

# Step tools, in the order their sagas run them, and the tool that undoes each (None: nothing to undo).
ORDERS_CREATE_PENDING = "orders.create_pending"
INVENTORY_RESERVE = "inventory.reserve"
INVENTORY_RELEASE = "inventory.release"
PAYMENTS_CHARGE = "payments.charge"
PAYMENTS_REFUND = "payments.refund"
SHIPMENTS_CREATE = "shipments.create"
SHIPMENTS_CANCEL = "shipments.cancel"
ORDERS_CONFIRM = "orders.confirm"
ORDERS_MARK_FAILED = "orders.mark_failed"
ORDERS_BEGIN_REFUND = "orders.begin_refund"
ORDERS_COMPLETE_REFUND = "orders.complete_refund"
ORDERS_ABORT_REFUND = "orders.abort_refund"
TICKETS_CREATE = "tickets.create"

PLACE_ORDER_STEPS = (ORDERS_CREATE_PENDING, INVENTORY_RESERVE, PAYMENTS_CHARGE, SHIPMENTS_CREATE, ORDERS_CONFIRM)
REFUND_STEPS = (ORDERS_BEGIN_REFUND, PAYMENTS_REFUND, ORDERS_COMPLETE_REFUND)
COMPENSATIONS: dict[str, str] = {
    ORDERS_CREATE_PENDING: ORDERS_MARK_FAILED,
    INVENTORY_RESERVE: INVENTORY_RELEASE,
    PAYMENTS_CHARGE: PAYMENTS_REFUND,
    SHIPMENTS_CREATE: SHIPMENTS_CANCEL,
    ORDERS_BEGIN_REFUND: ORDERS_ABORT_REFUND,
}
# Money paid back cannot be taken back: a refund step that fails after it is finished by a human, not undone.
REFUND_POINT_OF_NO_RETURN = PAYMENTS_REFUND


class SagaStatus(StrEnum):
    COMPLETED = "completed"
    # A step failed and everything done before it was undone.
    COMPENSATED = "compensated"
    # Something could not be undone (or finished); a ticket asks a human to.
    NEEDS_ATTENTION = "needs_attention"
    # The request was refused before anything changed.
    REFUSED = "refused"


class FailedCompensation(Frozen):
    description: str
    activity: str
    error_type: str = ""
    message: str = ""


class CompensationReport(Frozen):
    saga_id: str
    compensated: list[str] = Field(default_factory=list)
    failed: list[FailedCompensation] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


# ---- what the model sees (`orders.place`, `orders.refund`) ---------------------------------------------


class OrderItem(Frozen):
    sku: str = Field(pattern=SKU, description="Product SKU from the catalog.")
    quantity: int = Field(ge=1, le=MAX_QUANTITY, description="How many to order.")


class PlaceOrderArgs(Frozen):
    items: list[OrderItem] = Field(min_length=1, max_length=MAX_LINES, description="Order lines, one per SKU.")

    @field_validator("items")
    @classmethod
    def _one_line_per_sku(cls, items: list[OrderItem]) -> list[OrderItem]:
        skus = [item.sku for item in items]
        if len(set(skus)) != len(skus):
            raise ValueError("each sku may appear only once; add up the quantities instead")
        return items


class RefundArgs(Frozen):
    order_id: str = Field(pattern=ORDER_ID, description="The customer's order to refund.")
    amount_cents: int = Field(ge=1, le=MAX_AMOUNT_CENTS, description="Amount to refund, in cents.")
    reason: str = Field(min_length=1, max_length=500, description="Why the customer gets the refund.")


# ---- step tools -----------------------------------------------------------------------------------------


class OrderRef(Frozen):
    order_id: str = Field(min_length=1, max_length=64)


class OrderLine(Frozen):
    sku: str
    quantity: int
    unit_price_cents: int


class PendingOrder(Frozen):
    order_id: str
    total_cents: int
    currency: str = "USD"
    lines: list[OrderLine] = Field(default_factory=list)


class StockChange(Frozen):
    order_id: str
    # Quantity per sku that this call held (reserve) or gave back (release); empty when a repeat.
    quantities: dict[str, int] = Field(default_factory=dict)


class ChargeOut(Frozen):
    order_id: str
    charge_id: str
    amount_cents: int


class RefundPaymentArgs(Frozen):
    order_id: str = Field(min_length=1, max_length=64)
    charge_id: str = Field(min_length=1, max_length=128)
    amount_cents: int = Field(ge=1, le=MAX_AMOUNT_CENTS)


class RefundOut(Frozen):
    order_id: str
    refund_id: str
    amount_cents: int


class ShipmentOut(Frozen):
    order_id: str
    shipment_id: str
    carrier: str
    tracking_number: str


class CancelShipmentArgs(Frozen):
    order_id: str = Field(min_length=1, max_length=64)
    shipment_id: str = Field(min_length=1, max_length=64)


class ShipmentCancelled(Frozen):
    shipment_id: str
    status: str


class MarkFailedArgs(Frozen):
    order_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=500)


class OrderState(Frozen):
    order_id: str
    status: str
    total_cents: int
    refunded_cents: int = 0


class BeginRefundArgs(Frozen):
    order_id: str = Field(min_length=1, max_length=64)
    amount_cents: int = Field(ge=1, le=MAX_AMOUNT_CENTS)
    reason: str = Field(default="", max_length=500)


class RefundStarted(Frozen):
    order_id: str
    # The status to go back to if the refund is aborted, and that decides restocking when it completes.
    previous_status: str
    charge_id: str
    amount_cents: int
    total_cents: int
    refunded_cents: int


class CompleteRefundArgs(Frozen):
    order_id: str = Field(min_length=1, max_length=64)
    amount_cents: int = Field(ge=1, le=MAX_AMOUNT_CENTS)
    previous_status: str = Field(min_length=1, max_length=32)


class AbortRefundArgs(Frozen):
    order_id: str = Field(min_length=1, max_length=64)
    previous_status: str = Field(min_length=1, max_length=32)


# ---- what a saga answers (the `output` of its ToolCallResult) ----------------------------------------


class SagaOutcome(Frozen):
    saga_status: SagaStatus
    order_id: str = ""
    failed_step: str = ""
    compensated: list[str] = Field(default_factory=list)
    failed_compensations: list[str] = Field(default_factory=list)
    ticket_id: str = ""


class PlacedOrder(SagaOutcome):
    status: str = ""
    total_cents: int = 0
    currency: str = "USD"
    charge_id: str = ""
    carrier: str = ""
    tracking_number: str = ""


class RefundedOrder(SagaOutcome):
    status: str = ""
    amount_cents: int = 0
    refunded_cents: int = 0
    refund_id: str = ""
