"""Tool outcomes on the event stream, and the two activities workflows use to record what they decided.

The runtime (`activities.tools.runtime`) and `tools.record_outcome` announce a call's end with the same
dedup keys, `<message_id>:<call_id>:completed|failed|unavailable`, so whichever records it first wins and a
call is never announced twice: not by a retried attempt, not by the workflow recording an outcome the
runtime already recorded. `tool.started` is per attempt (`...:started:<attempt>`): a client sees each retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.steps import upsert_step
from contracts.agents import PublishEventInput
from contracts.events import EventType
from contracts.names import ACT_PUBLISH_EVENT, ACT_RECORD_TOOL_OUTCOME
from contracts.tool_calls import RecordToolOutcomeInput, ToolStatus
from core.events import EventBus
from db.database import Database

SUMMARY_CHARS = 300


def started_key(message_id: str, call_id: str, attempt: int) -> str:
    return f"{message_id}:{call_id}:started:{attempt}"


def completed_key(message_id: str, call_id: str) -> str:
    return f"{message_id}:{call_id}:completed"


def failed_key(message_id: str, call_id: str) -> str:
    return f"{message_id}:{call_id}:failed"


def unavailable_key(message_id: str, call_id: str) -> str:
    return f"{message_id}:{call_id}:unavailable"


def summarize(output: dict[str, Any]) -> str:
    """A short text of the output for the event stream; the whole output is in the step row."""
    text = json.dumps(output, separators=(",", ":"), default=str, ensure_ascii=False)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class CallRef:
    """Which call an outcome belongs to, and where it sits in its turn."""

    tenant_id: str
    conversation_id: str
    message_id: str
    call_id: str
    tool: str
    version: int = 1
    step: int = 0
    call_index: int = 0
    arguments: dict[str, Any] = field(default_factory=dict)


async def publish_end(
    bus: EventBus,
    ref: CallRef,
    status: str,
    *,
    output: dict[str, Any] | None = None,
    error_type: str = "",
    message: str = "",
    extra: dict[str, Any] | None = None,
) -> None:
    """Announce how a call ended: completed, failed (error or denied) or unavailable."""
    data: dict[str, Any] = {"call_id": ref.call_id, "tool": ref.tool, "version": ref.version}
    data["message_id"] = ref.message_id
    if status == ToolStatus.OK:
        event, key = EventType.TOOL_COMPLETED, completed_key(ref.message_id, ref.call_id)
        data["summary"] = summarize(output or {})
    else:
        data.update(status=status, error_type=error_type, message=message)
        if status == ToolStatus.UNAVAILABLE:
            event, key = EventType.TOOL_UNAVAILABLE, unavailable_key(ref.message_id, ref.call_id)
        else:
            event, key = EventType.TOOL_FAILED, failed_key(ref.message_id, ref.call_id)
    data.update(extra or {})
    await bus.publish(ref.tenant_id, ref.conversation_id, event, data, dedup_key=key)


async def record_end(
    db: Database,
    bus: EventBus,
    ref: CallRef,
    status: str,
    *,
    output: dict[str, Any] | None = None,
    error_type: str = "",
    message: str = "",
    attempts: int = 1,
    extra: dict[str, Any] | None = None,
) -> None:
    """The call's step row, then its announcement; both idempotent, so recording twice changes nothing."""
    async with db.tenant_session(ref.tenant_id) as session:
        await upsert_step(
            session,
            tenant_id=ref.tenant_id,
            conversation_id=ref.conversation_id,
            message_id=ref.message_id,
            call_id=ref.call_id,
            tool=ref.tool,
            version=ref.version,
            step=ref.step,
            call_index=ref.call_index,
            arguments=ref.arguments,
            status=status,
            output=output,
            error_type=error_type,
            message=message,
            attempts=attempts,
        )
    await publish_end(bus, ref, status, output=output, error_type=error_type, message=message, extra=extra)


def _tool_and_version(name: str, version: int) -> tuple[str, int]:
    # The workflow may record a pinned reference (`orders.refund@2`); the row keeps name and version apart.
    base, _, pinned = name.partition("@")
    return base, int(pinned) if pinned.isdigit() else version


class ToolOutcomeActivities:
    """Outcomes decided in the workflow (approval denied, unknown tool, cut, a saga's result) and its events."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    @activity.defn(name=ACT_RECORD_TOOL_OUTCOME)
    async def record_outcome(self, inp: RecordToolOutcomeInput) -> None:
        result = inp.result
        tool, version = _tool_and_version(result.tool or inp.call.tool, inp.version)
        ref = CallRef(
            tenant_id=inp.tenant_id,
            conversation_id=inp.conversation_id,
            message_id=inp.message_id,
            call_id=inp.call.call_id,
            tool=tool,
            version=version,
            step=inp.step,
            call_index=inp.call_index,
            arguments=inp.call.arguments,
        )
        await record_end(
            self._db,
            self._bus,
            ref,
            str(result.status),
            output=result.output,
            error_type=result.error_type,
            message=result.message,
        )

    @activity.defn(name=ACT_PUBLISH_EVENT)
    async def publish(self, inp: PublishEventInput) -> None:
        try:
            event = EventType(inp.type)
        except ValueError:
            raise ApplicationError(
                f"unknown event type {inp.type[:64]!r}", type="InvalidEventType", non_retryable=True
            ) from None
        await self._bus.publish(inp.tenant_id, inp.conversation_id, event, inp.data, dedup_key=inp.dedup_key or None)
