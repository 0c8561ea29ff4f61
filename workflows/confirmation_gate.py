"""The customer's confirmation of a tool call, inside `ConversationWorkflow`.

When the provenance policy finds a write whose targets are the customer's but whose action the customer did
not ask for (they asked to look an order up; the model wants to cancel it), the turn asks the customer
instead of deciding: `confirmation.requested` carries the question ("Shall I cancel order X? yes/no"), and
the `confirm_action` update carries the typed answer back. This is the customer's word on their own
request, not a staff approval (`workflows.approval_gate`): it comes through the conversation, and a member
of the tenant cannot give it on the customer's behalf through the approvals route.

While it waits the turn gives back its concurrent-turn slot; no answer before the deadline, or a newer
message interrupting the turn, counts as no.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.turn_io import release_turn_lease, run_local

with workflow.unsafe.imports_passed_through():
    from contracts.agents import PublishEventInput
    from contracts.conversation import ToolCallRequest
    from contracts.events import EventType
    from contracts.names import ACT_PUBLISH_EVENT
    from contracts.provenance import ConfirmationReply, ConfirmationStatus

# A customer answers in the conversation, or not at all: after this the call is dropped as not confirmed.
CONFIRMATION_TIMEOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class ConfirmationScope:
    tenant_id: str
    conversation_id: str
    message_id: str


@dataclass
class _Waiting:
    call: ToolCallRequest
    reply: ConfirmationReply | None = None


class ConfirmationGate:
    def __init__(self) -> None:
        self._waiting: dict[str, _Waiting] = {}
        self._resolved: dict[str, ConfirmationStatus] = {}

    @property
    def pending_ids(self) -> list[str]:
        return [cid for cid, waiting in self._waiting.items() if waiting.reply is None]

    def validate(self, reply: ConfirmationReply) -> None:
        """The `confirm_action` validator: unknown or answered ids are refused before they enter history."""
        waiting = self._waiting.get(reply.confirmation_id)
        if reply.confirmation_id in self._resolved or (waiting is not None and waiting.reply is not None):
            raise ApplicationError(
                "this confirmation has already been answered", type="ConfirmationAnswered", non_retryable=True
            )
        if waiting is None:
            raise ApplicationError("no such pending confirmation", type="ConfirmationNotFound", non_retryable=True)

    async def answer(self, reply: ConfirmationReply) -> ConfirmationStatus:
        waiting = self._waiting.get(reply.confirmation_id)
        if waiting is not None and waiting.reply is None:
            waiting.reply = reply
        await workflow.wait_condition(lambda: reply.confirmation_id in self._resolved)
        return self._resolved[reply.confirmation_id]

    async def request(self, scope: ConfirmationScope, call: ToolCallRequest, question: str) -> ConfirmationStatus:
        """Ask the customer; CONFIRMED, or DECLINED/EXPIRED (both mean: do not run it)."""
        confirmation_id = str(workflow.uuid4())
        await self._announce(
            scope,
            EventType.CONFIRMATION_REQUESTED,
            confirmation_id,
            call,
            question=question,
            expires_in=CONFIRMATION_TIMEOUT.total_seconds(),
        )
        self._waiting[confirmation_id] = waiting = _Waiting(call=call)
        status = ConfirmationStatus.EXPIRED
        try:
            try:
                await release_turn_lease(scope.tenant_id, scope.message_id)
                await workflow.wait_condition(lambda: waiting.reply is not None, timeout=CONFIRMATION_TIMEOUT)
            except TimeoutError:
                await self._announce(scope, EventType.CONFIRMATION_RESOLVED, confirmation_id, call, status=status)
                return status
            except asyncio.CancelledError:
                await self._announce(scope, EventType.CONFIRMATION_RESOLVED, confirmation_id, call, status=status)
                raise
            assert waiting.reply is not None
            status = ConfirmationStatus.CONFIRMED if waiting.reply.confirmed else ConfirmationStatus.DECLINED
            await self._announce(scope, EventType.CONFIRMATION_RESOLVED, confirmation_id, call, status=status)
            return status
        finally:
            self._resolved[confirmation_id] = status
            self._waiting.pop(confirmation_id, None)

    async def _announce(
        self,
        scope: ConfirmationScope,
        kind: EventType,
        confirmation_id: str,
        call: ToolCallRequest,
        *,
        question: str = "",
        expires_in: float = 0.0,
        status: ConfirmationStatus = ConfirmationStatus.PENDING,
    ) -> None:
        data: dict[str, object] = {
            "message_id": scope.message_id,
            "confirmation_id": confirmation_id,
            "call_id": call.call_id,
            "tool": call.tool,
            "arguments": call.arguments,
            "status": status.value,
        }
        if kind == EventType.CONFIRMATION_REQUESTED:
            data.update(question=question, expires_in_seconds=expires_in)
        await run_local(
            ACT_PUBLISH_EVENT,
            PublishEventInput(
                tenant_id=scope.tenant_id,
                conversation_id=scope.conversation_id,
                type=kind,
                data=data,
                dedup_key=f"{scope.message_id}:confirmation:{confirmation_id}:{status.value}",
            ),
        )
