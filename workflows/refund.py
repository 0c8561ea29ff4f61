"""`RefundWorkflow`: the `orders.refund` tool, a saga that refunds (part of) a customer's order.

begin the refund (checks the amount, marks the order refund_pending) -> refund the payment -> complete the
refund (refunded amount, status, restock on a full refund of an unshipped order). A failure before the
money moves puts the order back as it was. Paying the refund is the point of no return: money paid back
cannot be taken back, so a failure after it is not "undone" (the order would then claim no refund while
the customer has one); the order stays refund_pending and a ticket asks a person to finish it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from contracts.errors import ToolErrorType
    from contracts.names import WF_REFUND
    from contracts.retry import SAGA_COMPENSATION_RETRY
    from contracts.sagas import (
        ORDERS_ABORT_REFUND,
        ORDERS_BEGIN_REFUND,
        ORDERS_COMPLETE_REFUND,
        PAYMENTS_REFUND,
        AbortRefundArgs,
        BeginRefundArgs,
        CompleteRefundArgs,
        OrderState,
        RefundArgs,
        RefundedOrder,
        RefundOut,
        RefundPaymentArgs,
        RefundStarted,
        SagaStatus,
    )
    from contracts.tool_calls import ToolCallInput, ToolCallResult, ToolStatus
    from workflows.saga import invalid_arguments
    from workflows.tool_saga import StepFailed, ToolSaga

TOOL_NAME = "orders.refund"


@workflow.defn(name=WF_REFUND)
class RefundWorkflow:
    @workflow.run
    async def run(self, inp: ToolCallInput) -> ToolCallResult:
        saga = ToolSaga(inp, name=TOOL_NAME)
        try:
            args = RefundArgs.model_validate(inp.arguments)
        except ValidationError as err:
            return saga.refused(ToolErrorType.INPUT_INVALID, invalid_arguments(err))
        return await saga.run_to_end(self._refund(saga, args))

    async def _refund(self, saga: ToolSaga, args: RefundArgs) -> ToolCallResult:
        try:
            started = await saga.step(
                ORDERS_BEGIN_REFUND,
                BeginRefundArgs(order_id=args.order_id, amount_cents=args.amount_cents, reason=args.reason),
                RefundStarted,
            )
            saga.undo_with(
                ORDERS_ABORT_REFUND,
                AbortRefundArgs(order_id=args.order_id, previous_status=started.previous_status),
                description=f"put the order back to {started.previous_status}",
            )
            refund = await saga.step(
                PAYMENTS_REFUND,
                RefundPaymentArgs(order_id=args.order_id, charge_id=started.charge_id, amount_cents=args.amount_cents),
                RefundOut,
            )
        except StepFailed as err:
            return await saga.fail(err, order_id=args.order_id)
        try:
            # Past the point of no return: finishing is retried as hard as a compensation would be, and a
            # cancellation no longer stops it.
            state = await saga.step(
                ORDERS_COMPLETE_REFUND,
                CompleteRefundArgs(
                    order_id=args.order_id, amount_cents=args.amount_cents, previous_status=started.previous_status
                ),
                OrderState,
                retry_policy=SAGA_COMPENSATION_RETRY,
                cancellable=False,
            )
        except StepFailed as err:
            return await saga.needs_attention(
                order_id=args.order_id,
                failed_step=err.step,
                problem=f"the refund of {args.amount_cents} cents was paid (refund {refund.refund_id}) but the order "
                f"could not be updated ({err.error_type}: {err.message}); it stays refund_pending until a person "
                "completes it.",
            )
        outcome = RefundedOrder(
            saga_status=SagaStatus.COMPLETED,
            order_id=args.order_id,
            status=state.status,
            amount_cents=args.amount_cents,
            refunded_cents=state.refunded_cents,
            refund_id=refund.refund_id,
        )
        return saga.result(ToolStatus.OK, outcome)
