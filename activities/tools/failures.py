"""How a tool call's end is recorded and announced, and the error the workflow gets for it.

Failures reach the workflow as `ApplicationError`s whose `details[0]` is the call's `ToolCallResult` (as
JSON) and `details[1]` a dict of specifics (pydantic errors, the tool's own details, `retry_after_seconds`).
A refusal no retry can change is non-retryable, recorded as the call's step row and announced once; a
retryable failure is recorded when it happens on the policy's last attempt.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.tools.outcomes import CallRef, record_end
from agents.sdk import Tool
from contracts.errors import TOOL_REFUSALS
from contracts.tool_calls import ToolCallInput, ToolCallResult, ToolStatus
from core.events import EventBus
from db.database import Database

BUSY_RETRY_SECONDS = 1.0


def clean_errors(error: ValidationError) -> list[dict[str, Any]]:
    # Where and why, never the rejected value: arguments come from a model and may hold anything.
    return [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in error.errors()]


class CallReports:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    async def refuse(
        self,
        item: Tool,
        inp: ToolCallInput,
        error_type: str,
        message: str,
        status: ToolStatus,
        extra: dict[str, Any] | None = None,
    ) -> ApplicationError:
        """Record and announce a final outcome; the error to raise (no retry can change it).

        An open circuit is the exception: a retry after its cool-down may well pass. Its error is left to the
        retry policy (`NON_RETRYABLE_TOOL_ERRORS` stops an agent's call at once, so the model hears of it
        now) so that a saga's compensation, whose policy retries it, runs once the dependency is back.
        """
        retry_after = (extra or {}).get("retry_after_seconds")
        event = {"retry_after_seconds": retry_after} if retry_after is not None else {}
        await self.record(item, inp, status, error_type=error_type, message=message, event=event)
        result = ToolCallResult(
            call_id=inp.call_id, tool=item.spec.name, status=status, error_type=error_type, message=message
        )
        if retry_after is not None:
            delay = timedelta(seconds=max(float(retry_after), 0.1))
            return ApplicationError(
                message, result.model_dump(mode="json"), extra or {}, type=error_type, next_retry_delay=delay
            )
        return ApplicationError(
            message, result.model_dump(mode="json"), extra or {}, type=error_type, non_retryable=True
        )

    async def retryable(
        self,
        item: Tool,
        inp: ToolCallInput,
        error_type: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        busy: bool = False,
    ) -> ApplicationError:
        """The error for a failure a later attempt may not meet; on the last attempt also its final record."""
        retry = item.spec.retry
        attempt = activity.info().attempt
        status = ToolStatus.UNAVAILABLE if busy else ToolStatus.ERROR
        if attempt >= retry.max_attempts or error_type in retry.non_retryable or error_type in TOOL_REFUSALS:
            await self.record(item, inp, status, error_type=error_type, message=message)
        result = ToolCallResult(
            call_id=inp.call_id, tool=item.spec.name, status=status, error_type=error_type, message=message
        )
        delay = timedelta(seconds=BUSY_RETRY_SECONDS * (1 + random.random() / 2)) if busy else None  # noqa: S311
        return ApplicationError(
            message,
            result.model_dump(mode="json"),
            {"details": details or {}},
            type=error_type,
            next_retry_delay=delay,
            category=ApplicationErrorCategory.BENIGN if busy else ApplicationErrorCategory.UNSPECIFIED,
        )

    async def record(
        self,
        item: Tool,
        inp: ToolCallInput,
        status: ToolStatus,
        *,
        output: dict[str, Any] | None = None,
        error_type: str = "",
        message: str = "",
        event: dict[str, Any] | None = None,
    ) -> None:
        ref = CallRef(
            tenant_id=inp.tenant_id,
            conversation_id=inp.conversation_id,
            message_id=inp.message_id,
            call_id=inp.call_id,
            tool=item.spec.name,
            version=item.spec.version,
            step=inp.step,
            call_index=inp.call_index,
            arguments=inp.arguments,
        )
        attempt = activity.info().attempt
        await record_end(
            self._db,
            self._bus,
            ref,
            str(status),
            output=output,
            error_type=error_type,
            message=message,
            attempts=attempt,
            extra=event,
        )
