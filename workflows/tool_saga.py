"""`ToolSaga`: the plumbing of a saga that is an agent tool (`PlaceOrderWorkflow`, `RefundWorkflow`).

Input `ToolCallInput`, result `ToolCallResult`; steps run as hidden tool activities by name, each with an
idempotency key derived from the saga's own (itself from the conversation's workflow id and the call id),
so retries, replays and a worker dying mid-step repeat nothing. A refusal at the first step is answered as
a refusal; a later step failing for good undoes what came before (`workflows.saga.Saga`); a compensation
that still fails is handed to a human through a `needs_attention` ticket, and the result says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.agents import tool_activity_name
    from contracts.errors import TOOL_REFUSALS, ToolErrorType
    from contracts.events import EventType
    from contracts.retry import (
        SAGA_NOTIFY_RETRY,
        SAGA_NOTIFY_START_TO_CLOSE,
        SAGA_STEP_RETRY,
        SAGA_STEP_START_TO_CLOSE,
    )
    from contracts.sagas import (
        TICKETS_CREATE,
        CompensationReport,
        SagaOutcome,
        SagaStatus,
    )
    from contracts.tool_calls import ToolCallInput, ToolCallResult, ToolStatus, idempotency_key

from workflows.saga import Saga, error_of

M = TypeVar("M", bound=BaseModel)


class StepFailed(Exception):
    """A saga step failed for good: it refused, or its retries are spent."""

    def __init__(self, step: str, error_type: str, message: str) -> None:
        super().__init__(f"{step}: {error_type}: {message}")
        self.step = step
        self.error_type = error_type
        self.message = message


class ToolSaga:
    def __init__(self, inp: ToolCallInput, *, name: str) -> None:
        self.inp = inp
        self.name = name
        # The conversation derives the key from its workflow id and the call id; a saga started by hand
        # without one gets its own, equally stable across retries and replays.
        self.key = inp.idempotency_key or idempotency_key(workflow.info().workflow_id, inp.call_id)
        self.saga = Saga(self.key, tenant_id=inp.tenant_id, conversation_id=inp.conversation_id, name=name)
        self.steps_done: list[str] = []
        self.cancel_requested = False

    async def run_to_end(self, body: Awaitable[ToolCallResult]) -> ToolCallResult:
        """Run the saga's body so that cancelling the run never cuts a step in half.

        The body runs shielded: a cancellation request lets the current step finish, then the next step
        refuses to start and what was done is undone, as for any failed step. The run then ends with that
        result instead of as cancelled.
        """
        task = asyncio.ensure_future(body)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self.cancel_requested = True
            workflow.logger.info("saga cancelled; undoing after the current step", extra={"saga_id": self.key})
            return await task

    def call(self, tool: str, arguments: dict[str, Any], *, undoes: str = "") -> ToolCallInput:
        """The input of one step: the saga's own call, renamed, with a key of its own per step."""
        return ToolCallInput(
            tenant_id=self.inp.tenant_id,
            conversation_id=self.inp.conversation_id,
            # The steps' rows and events stay apart from the turn's own tool calls: the model is shown the
            # calls of its message, and it never made these (it called the saga).
            message_id=f"{self.inp.message_id}:saga",
            call_id=self.call_id(tool),
            tool=tool,
            arguments=arguments,
            agent=self.inp.agent,
            customer_id=self.inp.customer_id,
            step=self.inp.step,
            call_index=self.inp.call_index,
            idempotency_key=idempotency_key(self.key, tool),
            undoes_call_id=self.call_id(undoes) if undoes else "",
        )

    def call_id(self, tool: str) -> str:
        return f"{self.inp.call_id}/{tool}"

    async def step(
        self,
        tool: str,
        args: BaseModel,
        out: type[M],
        *,
        retry_policy: RetryPolicy = SAGA_STEP_RETRY,
        cancellable: bool = True,
    ) -> M:
        """Run one step to its end; a step past the point of no return is `cancellable=False`."""
        if cancellable and self.cancel_requested:
            raise StepFailed(tool, "SagaCancelled", "the saga was cancelled before this step")
        workflow.set_current_details(f"**{self.name}**: {tool} (after {', '.join(self.steps_done) or 'nothing'})")
        try:
            result = await workflow.execute_activity(
                tool_activity_name(tool, 1),
                self.call(tool, args.model_dump(mode="json")),
                result_type=ToolCallResult,
                start_to_close_timeout=SAGA_STEP_START_TO_CLOSE,
                retry_policy=retry_policy,
            )
        except ActivityError as err:
            raise StepFailed(tool, *error_of(err)) from err
        if result.status != ToolStatus.OK:
            raise StepFailed(tool, result.error_type or result.status.value, result.message)
        self.steps_done.append(tool)
        return out.model_validate(result.output)

    def undo_with(self, tool: str, args: BaseModel, *, description: str) -> None:
        """Register the compensation of the step that just completed; undoing it also gives its charge back."""
        undoes = self.steps_done[-1] if self.steps_done else ""
        self.saga.add_compensation(
            tool_activity_name(tool, 1),
            self.call(tool, args.model_dump(mode="json"), undoes=undoes),
            description=description,
            result_type=ToolCallResult,
        )

    def result(
        self, status: ToolStatus, outcome: SagaOutcome, *, error_type: str = "", message: str = ""
    ) -> ToolCallResult:
        workflow.set_current_details(f"**{self.name}**: {outcome.saga_status.value}")
        return ToolCallResult(
            call_id=self.inp.call_id,
            tool=self.name,
            status=status,
            output=outcome.model_dump(mode="json"),
            error_type=error_type,
            message=message[:1000],
        )

    def refused(self, error_type: str, message: str) -> ToolCallResult:
        # As the tool runtime answers: someone else's record is denied, the same as one that does not exist.
        status = (
            ToolStatus.DENIED if error_type in (ToolErrorType.DENIED, ToolErrorType.NOT_FOUND) else ToolStatus.ERROR
        )
        return self.result(status, SagaOutcome(saga_status=SagaStatus.REFUSED), error_type=error_type, message=message)

    async def fail(self, err: StepFailed, *, order_id: str = "") -> ToolCallResult:
        """A step failed: refuse (nothing happened yet), or undo and say so, or hand over to a human."""
        if not self.steps_done and err.error_type in TOOL_REFUSALS:
            return self.refused(err.error_type, err.message)
        report = await self.saga.compensate(
            reason=f"{err.step} failed: {err.message}", data={"order_id": order_id, "failed_step": err.step}
        )
        if not report.ok:
            failed = ", ".join(f"{f.description} ({f.error_type}: {f.message})" for f in report.failed)
            return await self.needs_attention(
                order_id=order_id,
                failed_step=err.step,
                problem=f"step {err.step} failed ({err.error_type}: {err.message}) and these could not be undone: "
                f"{failed}",
                report=report,
            )
        outcome = SagaOutcome(
            saga_status=SagaStatus.COMPENSATED, order_id=order_id, failed_step=err.step, compensated=report.compensated
        )
        return self.result(
            ToolStatus.ERROR,
            outcome,
            error_type=err.error_type,
            message=f"{self.name} did not go through: {err.step} failed ({err.message}); "
            "everything done before it was undone.",
        )

    async def needs_attention(
        self, *, order_id: str, failed_step: str, problem: str, report: CompensationReport | None = None
    ) -> ToolCallResult:
        """Open a ticket for a human, announce it, and answer that the request is in a person's hands."""
        ticket_id = await self._open_ticket(order_id, failed_step, problem)
        failed = [f.description for f in report.failed] if report else []
        compensated = report.compensated if report else []
        await self.saga.publish(
            EventType.SAGA_NEEDS_ATTENTION,
            {
                "order_id": order_id,
                "failed_step": failed_step,
                "failed_compensations": failed,
                "ticket_id": ticket_id,
            },
            "needs_attention",
        )
        outcome = SagaOutcome(
            saga_status=SagaStatus.NEEDS_ATTENTION,
            order_id=order_id,
            failed_step=failed_step,
            compensated=compensated,
            failed_compensations=failed,
            ticket_id=ticket_id,
        )
        return self.result(
            ToolStatus.ERROR,
            outcome,
            error_type="SagaNeedsAttention",
            message=f"{self.name} could not be finished or undone automatically; a person will resolve it "
            f"(ticket {ticket_id or 'not opened'}).",
        )

    async def _open_ticket(self, order_id: str, failed_step: str, problem: str) -> str:
        body = (
            f"Saga {self.name} (id {self.key}) for order {order_id or '(none)'} needs a person.\n"
            f"Failed step: {failed_step}.\n{problem}"
        )
        arguments = {
            "subject": _printable(f"{self.name}: order {order_id or '(none)'} needs attention")[:200],
            "body": _printable(body, keep="\n")[:4000],
            "priority": "high",
            "kind": "needs_attention",
        }
        try:
            result = await workflow.execute_activity(
                tool_activity_name(TICKETS_CREATE, 1),
                self.call(TICKETS_CREATE, arguments),
                result_type=ToolCallResult,
                start_to_close_timeout=SAGA_NOTIFY_START_TO_CLOSE,
                retry_policy=SAGA_NOTIFY_RETRY,
            )
        except ActivityError as err:
            workflow.logger.error("needs-attention ticket not opened", extra={"saga_id": self.key, "error": str(err)})
            return ""
        output = result.output if result.status == ToolStatus.OK else {}
        return str(output.get("ticket_id") or output.get("id") or "")


def _printable(text: str, keep: str = "") -> str:
    """Error messages may carry anything; a ticket's subject and body take no control characters."""
    return "".join(ch if ch.isprintable() or ch in keep else " " for ch in text)
