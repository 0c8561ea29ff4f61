"""Human approval of a tool call, inside `ConversationWorkflow`.

A call whose tool's `ApprovalRule` demands it waits here: the request is recorded (row, audit event,
`approval.requested`), the turn gives back its concurrent-turn slot (a person may take a day, and a turn
waiting for one uses no worker), then it waits for the `decide_approval` update or the rule's deadline, and
the resolution is recorded the same way. Only a decision the workflow accepted counts; the gateway checks the
member's permission and the tenant before it sends one, and the validator here refuses ids that are unknown
or already decided, so a decision can never be applied twice or to the wrong call.

An interrupted turn (double texting) stops waiting; its approval is recorded as expired so nobody can
approve a call that will no longer run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.turn_io import release_turn_lease, run_local

with workflow.unsafe.imports_passed_through():
    from contracts.agents import (
        ApprovalDecision,
        ApprovalDecisionKind,
        ApprovalRecordInput,
        ApprovalRule,
        ApprovalStatus,
    )
    from contracts.conversation import ToolCallRequest
    from contracts.names import ACT_RECORD_APPROVAL

EXPIRED_NOTE = "no decision before the deadline"
INTERRUPTED_NOTE = "the turn was interrupted by a newer message"


@dataclass(frozen=True)
class ApprovalScope:
    """Where a call that needs approval comes from."""

    tenant_id: str
    conversation_id: str
    message_id: str


@dataclass
class _Waiting:
    call: ToolCallRequest
    decision: ApprovalDecision | None = None


class ApprovalGate:
    def __init__(self) -> None:
        # Approvals the running turn waits on, by id; and the final status of every approval of this run.
        self._waiting: dict[str, _Waiting] = {}
        self._resolved: dict[str, ApprovalStatus] = {}

    @property
    def pending_ids(self) -> list[str]:
        return [approval_id for approval_id, w in self._waiting.items() if w.decision is None]

    def validate(self, decision: ApprovalDecision) -> None:
        """The `decide_approval` validator: refuses before anything enters history."""
        waiting = self._waiting.get(decision.approval_id)
        if decision.approval_id in self._resolved or (waiting is not None and waiting.decision is not None):
            raise ApplicationError(
                "this approval has already been decided", type="ApprovalAlreadyDecided", non_retryable=True
            )
        if waiting is None:
            raise ApplicationError("no such pending approval", type="ApprovalNotFound", non_retryable=True)

    async def decide(self, decision: ApprovalDecision) -> ApprovalStatus:
        """Hand the decision to the waiting turn; answer once the resolution is recorded."""
        waiting = self._waiting.get(decision.approval_id)
        if waiting is not None and waiting.decision is None:
            waiting.decision = decision
        await workflow.wait_condition(lambda: decision.approval_id in self._resolved)
        return self._resolved[decision.approval_id]

    async def request(
        self, scope: ApprovalScope, call: ToolCallRequest, tool: str, rule: ApprovalRule
    ) -> ApprovalStatus:
        """Ask a human about `call`; APPROVED, or DENIED/EXPIRED (both mean: do not run it)."""
        approval_id = str(workflow.uuid4())
        await self._record(scope, approval_id, call, tool, ApprovalStatus.PENDING, expires_in=rule.timeout_seconds)
        self._waiting[approval_id] = waiting = _Waiting(call=call)
        status = ApprovalStatus.EXPIRED
        try:
            try:
                await release_turn_lease(scope.tenant_id, scope.message_id)
                await workflow.wait_condition(
                    lambda: waiting.decision is not None, timeout=timedelta(seconds=rule.timeout_seconds)
                )
            except TimeoutError:
                await self._record(scope, approval_id, call, tool, status, note=EXPIRED_NOTE)
                return status
            except asyncio.CancelledError:
                # The interrupt is honoured once the request can no longer be approved.
                await self._record(scope, approval_id, call, tool, status, note=INTERRUPTED_NOTE)
                raise
            decision = waiting.decision
            assert decision is not None
            status = (
                ApprovalStatus.APPROVED if decision.decision == ApprovalDecisionKind.APPROVE else ApprovalStatus.DENIED
            )
            await self._record(
                scope, approval_id, call, tool, status, note=decision.note, decided_by=decision.decided_by
            )
            return status
        finally:
            # Whatever happened, a decision waiting on this approval gets an answer and no second one is taken.
            self._resolved[approval_id] = status
            self._waiting.pop(approval_id, None)

    async def _record(
        self,
        scope: ApprovalScope,
        approval_id: str,
        call: ToolCallRequest,
        tool: str,
        status: ApprovalStatus,
        *,
        expires_in: float = 0.0,
        note: str = "",
        decided_by: str = "",
    ) -> None:
        await run_local(
            ACT_RECORD_APPROVAL,
            ApprovalRecordInput(
                tenant_id=scope.tenant_id,
                conversation_id=scope.conversation_id,
                approval_id=approval_id,
                message_id=scope.message_id,
                call_id=call.call_id,
                tool=tool,
                arguments=call.arguments,
                status=status,
                note=note,
                decided_by=decided_by,
                timeout_seconds=expires_in,
            ),
        )
