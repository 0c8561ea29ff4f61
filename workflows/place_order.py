"""`PlaceOrderWorkflow`: the `orders.place` tool, a saga that places a customer's order across four systems.

create the pending order -> reserve stock -> charge the payment -> create the shipment -> confirm. Every
step is a hidden tool activity (`commerce/saga_steps/`), idempotent by a key derived from the
saga's own, so retries and a worker dying mid-step repeat nothing. When a step fails for good, what came
before is undone newest first (cancel the shipment, refund the charge, release the stock, mark the order
failed); a compensation that still fails opens a ticket for a human and the answer says so.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from contracts.errors import ToolErrorType
    from contracts.names import WF_PLACE_ORDER
    from contracts.sagas import (
        INVENTORY_RELEASE,
        INVENTORY_RESERVE,
        ORDERS_CONFIRM,
        ORDERS_CREATE_PENDING,
        ORDERS_MARK_FAILED,
        PAYMENTS_CHARGE,
        PAYMENTS_REFUND,
        SHIPMENTS_CANCEL,
        SHIPMENTS_CREATE,
        CancelShipmentArgs,
        ChargeOut,
        MarkFailedArgs,
        OrderRef,
        OrderState,
        PendingOrder,
        PlacedOrder,
        PlaceOrderArgs,
        RefundPaymentArgs,
        SagaStatus,
        ShipmentOut,
        StockChange,
    )
    from contracts.tool_calls import ToolCallInput, ToolCallResult, ToolStatus
    from workflows.saga import invalid_arguments
    from workflows.tool_saga import StepFailed, ToolSaga

TOOL_NAME = "orders.place"


@workflow.defn(name=WF_PLACE_ORDER)
class PlaceOrderWorkflow:
    @workflow.run
    async def run(self, inp: ToolCallInput) -> ToolCallResult:
        saga = ToolSaga(inp, name=TOOL_NAME)
        try:
            args = PlaceOrderArgs.model_validate(inp.arguments)
        except ValidationError as err:
            return saga.refused(ToolErrorType.INPUT_INVALID, invalid_arguments(err))
        return await saga.run_to_end(self._place(saga, args))

    async def _place(self, saga: ToolSaga, args: PlaceOrderArgs) -> ToolCallResult:
        order_id = ""
        try:
            order = await saga.step(ORDERS_CREATE_PENDING, args, PendingOrder)
            order_id = order.order_id
            ref = OrderRef(order_id=order_id)
            saga.undo_with(
                ORDERS_MARK_FAILED,
                MarkFailedArgs(order_id=order_id, reason="the order could not be completed"),
                description="mark the order failed",
            )
            await saga.step(INVENTORY_RESERVE, ref, StockChange)
            saga.undo_with(INVENTORY_RELEASE, ref, description="release the reserved stock")
            charge = await saga.step(PAYMENTS_CHARGE, ref, ChargeOut)
            saga.undo_with(
                PAYMENTS_REFUND,
                RefundPaymentArgs(order_id=order_id, charge_id=charge.charge_id, amount_cents=charge.amount_cents),
                description="refund the charge",
            )
            shipment = await saga.step(SHIPMENTS_CREATE, ref, ShipmentOut)
            saga.undo_with(
                SHIPMENTS_CANCEL,
                CancelShipmentArgs(order_id=order_id, shipment_id=shipment.shipment_id),
                description="cancel the shipment",
            )
            placed = await saga.step(ORDERS_CONFIRM, ref, OrderState)
        except StepFailed as err:
            return await saga.fail(err, order_id=order_id)
        outcome = PlacedOrder(
            saga_status=SagaStatus.COMPLETED,
            order_id=order_id,
            status=placed.status,
            total_cents=order.total_cents,
            currency=order.currency,
            charge_id=charge.charge_id,
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
        )
        return saga.result(ToolStatus.OK, outcome)
