"""Sagas: when a later step fails for good, undo what the earlier steps did in other systems, newest first.

`Saga` is the helper for any workflow author, and it is workflow code: deterministic, no I/O of its own.
After each step that changed something, register the activity that undoes it; `compensate()` runs them in
reverse order, each as an activity with its own bounded retries, keeps going past one that still fails (the
others must run regardless) and reports which failed. It announces `saga.compensating` before and
`saga.compensated` after on the conversation's event stream (the `events.publish` activity), deduplicated
by the saga id, so a retried or replayed run announces once.

    saga = Saga(saga_id, tenant_id=inp.tenant_id, conversation_id=inp.conversation_id, name="trip.book")
    try:
        flight = await workflow.execute_activity("tools.flights.book.v1", book, start_to_close_timeout=STEP)
        saga.add_compensation("tools.flights.cancel.v1", cancel_of(flight), description="cancel the flight")
        await workflow.execute_activity("tools.payments.charge.v1", charge, start_to_close_timeout=STEP)
    except ActivityError:
        report = await saga.compensate(reason="the payment failed")
        if not report.ok:
            ...  # something could not be undone: open a ticket for a human, and say so

Compensations must be idempotent (they may run again after a crash) and must treat "nothing to undo" as
done.

`workflows.tool_saga.ToolSaga` builds on it for sagas that are agent tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.agents import PublishEventInput
    from contracts.events import EventType
    from contracts.names import ACT_PUBLISH_EVENT
    from contracts.retry import (
        SAGA_COMPENSATION_RETRY,
        SAGA_COMPENSATION_START_TO_CLOSE,
        SAGA_NOTIFY_RETRY,
        SAGA_NOTIFY_START_TO_CLOSE,
    )
    from contracts.sagas import CompensationReport, FailedCompensation
    from contracts.tool_calls import ToolCallResult, ToolStatus

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Compensation:
    activity: str
    arg: Any
    description: str
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy
    result_type: type | None = None


def invalid_arguments(err: ValidationError) -> str:
    """One line per problem, naming the field, never the value: what the model needs to correct its call."""
    problems = [f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in err.errors()[:5]]
    return "invalid arguments: " + "; ".join(problems)


def error_of(err: BaseException) -> tuple[str, str]:
    """(type, message) of an activity failure: the application error's type, or the timeout/cancel kind."""
    cause = err.cause if isinstance(err, ActivityError) and err.cause is not None else err
    if isinstance(cause, ApplicationError):
        return cause.type or "ApplicationError", cause.message
    return type(cause).__name__, str(cause) or type(cause).__name__


class Saga:
    def __init__(self, saga_id: str, *, tenant_id: str, conversation_id: str, name: str) -> None:
        self.saga_id = saga_id
        self.tenant_id = tenant_id
        self.conversation_id = conversation_id
        self.name = name
        self._compensations: list[Compensation] = []
        self._report: CompensationReport | None = None

    def add_compensation(
        self,
        activity: str,
        arg: Any,
        *,
        description: str,
        start_to_close_timeout: timedelta = SAGA_COMPENSATION_START_TO_CLOSE,
        retry_policy: RetryPolicy = SAGA_COMPENSATION_RETRY,
        result_type: type | None = None,
    ) -> None:
        """Register the undo of a step that has just completed.

        `result_type=ToolCallResult` makes a result with a status other than ok count as a failure.
        """
        if self._report is not None:
            raise RuntimeError(f"saga {self.saga_id} has already compensated")
        self._compensations.append(
            Compensation(activity, arg, description, start_to_close_timeout, retry_policy, result_type)
        )

    @property
    def pending(self) -> list[str]:
        """Descriptions of the compensations `compensate()` would run, in the order it would run them."""
        return [c.description for c in reversed(self._compensations)]

    async def compensate(self, *, reason: str = "", data: dict[str, Any] | None = None) -> CompensationReport:
        """Run every registered compensation, newest first; a second call returns the first call's report."""
        if self._report is not None:
            return self._report
        extra = dict(data or {})
        await self.publish(
            EventType.SAGA_COMPENSATING,
            {**extra, "reason": reason[:500], "compensations": self.pending},
            "compensating",
        )
        done: list[str] = []
        failed: list[FailedCompensation] = []
        for comp in reversed(self._compensations):
            problem = await self._run(comp)
            if problem is None:
                done.append(comp.description)
            else:
                failed.append(problem)
                workflow.logger.warning(
                    "compensation failed", extra={"saga_id": self.saga_id, "activity": comp.activity}
                )
        self._compensations.clear()
        self._report = CompensationReport(saga_id=self.saga_id, compensated=done, failed=failed)
        await self.publish(
            EventType.SAGA_COMPENSATED,
            {
                **extra,
                "complete": not failed,
                "compensated": done,
                "failed": [f.model_dump(mode="json") for f in failed],
            },
            "compensated",
        )
        return self._report

    async def _run(self, comp: Compensation) -> FailedCompensation | None:
        try:
            result = await workflow.execute_activity(
                comp.activity,
                comp.arg,
                result_type=comp.result_type,
                start_to_close_timeout=comp.start_to_close_timeout,
                retry_policy=comp.retry_policy,
            )
        except ActivityError as err:
            error_type, message = error_of(err)
            return FailedCompensation(
                description=comp.description, activity=comp.activity, error_type=error_type, message=message[:500]
            )
        if isinstance(result, ToolCallResult) and result.status != ToolStatus.OK:
            return FailedCompensation(
                description=comp.description,
                activity=comp.activity,
                error_type=result.error_type or result.status.value,
                message=result.message[:500],
            )
        return None

    async def publish(self, event_type: EventType, data: dict[str, Any], dedup_suffix: str) -> None:
        """Announce on the conversation's stream; an announcement that cannot be made never fails the saga."""
        if not self.conversation_id:
            return
        try:
            await workflow.execute_activity(
                ACT_PUBLISH_EVENT,
                PublishEventInput(
                    tenant_id=self.tenant_id,
                    conversation_id=self.conversation_id,
                    type=event_type,
                    data={"saga": self.name, "saga_id": self.saga_id, **data},
                    dedup_key=f"saga:{self.saga_id}:{dedup_suffix}",
                ),
                start_to_close_timeout=SAGA_NOTIFY_START_TO_CLOSE,
                retry_policy=SAGA_NOTIFY_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning(
                "saga event not published", extra={"saga_id": self.saga_id, "event": event_type, "error": str(err)}
            )
