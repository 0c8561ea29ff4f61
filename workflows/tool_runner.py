"""Running the tool calls a model asked for in one step of a turn, inside `ConversationWorkflow`.

Nothing a model says is trusted. Each call is checked in code before it runs: the tool must be one the
resolved agent may call, the arguments must pass what can be checked here (parsed, required fields, simple
types), a write must pass the provenance policy (`workflows.provenance`: asked for by the customer, on targets
the customer gave; otherwise refused or put to the customer as a confirmation), and an approval rule that
applies must get a human's yes. Then the call runs as the tool's activity
(timeouts and retries from its spec) or, for a saga, as a child workflow. Its idempotency key derives from
the workflow id and the call, so a retry or replay never repeats an effect.

Every outcome ends up in the `tool_calls` table, which is where the model reads what its calls did: the
tool runtime writes rows for calls it ran; `tools.record_outcome` writes the rest (refusals decided here,
timeouts, a saga's result). Read-only calls of a step run concurrently; writes run one by one, in order,
and a write that has started is finished even when the turn is interrupted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import TypedSearchAttributes
from temporalio.exceptions import ActivityError, ChildWorkflowError, is_cancelled_exception
from temporalio.workflow import ParentClosePolicy

from workflows.approval_gate import ApprovalGate, ApprovalScope
from workflows.confirmation_gate import ConfirmationGate, ConfirmationScope
from workflows.provenance import TurnProvenance, confirmation_question, needs_check
from workflows.tool_checks import argument_problem, failure_result, is_read, refusal
from workflows.turn_io import run_local

with workflow.unsafe.imports_passed_through():
    from contracts.agents import ApprovalStatus, ResolvedAgent, ToolSpec
    from contracts.conversation import ToolCallRequest
    from contracts.errors import ToolErrorType
    from contracts.names import ACT_RECORD_POLICY_DECISION, ACT_RECORD_TOOL_OUTCOME
    from contracts.provenance import (
        NOT_CONFIRMED,
        POLICY_REFUSED,
        ConfirmationStatus,
        PolicyDecision,
        RecordPolicyDecisionInput,
        Verdict,
    )
    from contracts.tool_calls import RecordToolOutcomeInput, ToolCallInput, ToolCallResult, ToolStatus, idempotency_key

# The search attribute a saga started here carries over from its conversation.
TENANT_ATTRIBUTE = "TenantId"


@dataclass(frozen=True)
class TurnScope:
    """What every call of one turn shares."""

    tenant_id: str
    conversation_id: str
    message_id: str
    customer_id: str | None
    workflow_id: str
    agent: str


@dataclass(frozen=True)
class Protection:
    """The turn's provenance record and the customer's confirmations; absent for runs that predate them."""

    provenance: TurnProvenance
    confirmations: ConfirmationGate


class ToolRunner:
    def __init__(
        self, scope: TurnScope, agent: ResolvedAgent, gate: ApprovalGate, protection: Protection | None = None
    ) -> None:
        self._scope = scope
        self._agent = agent
        self._gate = gate
        self._protection = protection

    async def run_step(self, step: int, calls: list[ToolCallRequest]) -> list[ToolCallResult]:
        """Run one step's calls: consecutive reads together, each write alone, results in call order."""
        results: list[ToolCallResult | None] = [None] * len(calls)
        reads: list[int] = []

        async def flush_reads() -> None:
            outcomes = await asyncio.gather(*(self._call(step, i, calls[i]) for i in reads))
            for i, outcome in zip(reads, outcomes, strict=True):
                results[i] = outcome
                self._observe(calls[i], outcome)
            reads.clear()

        for index, call in enumerate(calls):
            if is_read(self._agent.tool(call.tool)):
                reads.append(index)
                continue
            await flush_reads()
            results[index] = await self._call(step, index, call)
            self._observe(call, results[index])
        await flush_reads()
        return [r for r in results if r is not None]

    async def record(
        self, step: int, index: int, call: ToolCallRequest, result: ToolCallResult, version: int = 1
    ) -> None:
        """Write an outcome decided here, so the model reads it with the others."""
        await run_local(
            ACT_RECORD_TOOL_OUTCOME,
            RecordToolOutcomeInput(
                tenant_id=self._scope.tenant_id,
                conversation_id=self._scope.conversation_id,
                message_id=self._scope.message_id,
                step=step,
                call=call,
                result=result,
                call_index=index,
                version=version,
            ),
        )

    async def _refuse(self, step: int, index: int, call: ToolCallRequest, result: ToolCallResult) -> ToolCallResult:
        await self.record(step, index, call, result)
        return result

    async def _call(self, step: int, index: int, call: ToolCallRequest) -> ToolCallResult:
        spec = self._agent.tool(call.tool)
        if spec is None or not spec.agent_visible:
            return await self._refuse(
                step,
                index,
                call,
                refusal(call, ToolStatus.DENIED, ToolErrorType.NOT_ALLOWED, f"unknown tool {call.tool!r}"),
            )
        problem = argument_problem(spec, call.arguments)
        if problem is not None:
            return await self._refuse(
                step, index, call, refusal(call, ToolStatus.ERROR, ToolErrorType.INPUT_INVALID, problem)
            )
        if self._protection is not None and needs_check(spec):
            refused = await self._police(step, call, spec, self._protection)
            if refused is not None:
                return await self._refuse(step, index, call, refused)
        if spec.approval is not None and spec.approval.required(call.arguments):
            scope = ApprovalScope(self._scope.tenant_id, self._scope.conversation_id, self._scope.message_id)
            decided = await self._gate.request(scope, call, spec.name, spec.approval)
            if decided != ApprovalStatus.APPROVED:
                how = "nobody decided in time" if decided == ApprovalStatus.EXPIRED else "a human denied it"
                message = f"not approved by a human: {how}"
                return await self._refuse(step, index, call, refusal(call, ToolStatus.DENIED, "NotApproved", message))
        if is_read(spec):
            return await self._execute(step, index, call, spec)
        return await _finish(self._execute(step, index, call, spec))

    def _observe(self, call: ToolCallRequest, result: ToolCallResult | None) -> None:
        if self._protection is not None and result is not None:
            self._protection.provenance.observe(call, self._agent.tool(call.tool), result)

    async def _police(
        self, step: int, call: ToolCallRequest, spec: ToolSpec, protection: Protection
    ) -> ToolCallResult | None:
        """The provenance check of a write: None to go on, or the refusal the model reads.

        Each decision, with the facts behind it, is recorded by an activity, so it is in history.
        """
        decision = protection.provenance.check(call, spec)
        await self._record_decision(step, decision)
        if decision.verdict == Verdict.CONFIRM:
            scope = ConfirmationScope(self._scope.tenant_id, self._scope.conversation_id, self._scope.message_id)
            status = await protection.confirmations.request(scope, call, confirmation_question(call, spec))
            confirmed = status == ConfirmationStatus.CONFIRMED
            decision = decision.model_copy(
                update={
                    "confirmed": confirmed,
                    "verdict": Verdict.ALLOW if confirmed else Verdict.REFUSE,
                    "reason": "the customer confirmed" if confirmed else f"not confirmed by the customer ({status})",
                }
            )
            await self._record_decision(step, decision)
            if not confirmed:
                return refusal(call, ToolStatus.DENIED, NOT_CONFIRMED, decision.reason)
        if decision.verdict == Verdict.REFUSE:
            return refusal(call, ToolStatus.DENIED, POLICY_REFUSED, decision.reason[:1000])
        return None

    async def _record_decision(self, step: int, decision: PolicyDecision) -> None:
        await run_local(
            ACT_RECORD_POLICY_DECISION,
            RecordPolicyDecisionInput(
                tenant_id=self._scope.tenant_id,
                conversation_id=self._scope.conversation_id,
                message_id=self._scope.message_id,
                step=step,
                decision=decision,
            ),
        )

    async def _execute(self, step: int, index: int, call: ToolCallRequest, spec: ToolSpec) -> ToolCallResult:
        scope = self._scope
        inp = ToolCallInput(
            tenant_id=scope.tenant_id,
            conversation_id=scope.conversation_id,
            message_id=scope.message_id,
            call_id=call.call_id,
            tool=spec.name,
            version=spec.version,
            arguments=call.arguments,
            agent=scope.agent,
            customer_id=scope.customer_id,
            step=step,
            call_index=index,
            idempotency_key=idempotency_key(scope.workflow_id, f"{scope.message_id}:{call.call_id}"),
        )
        try:
            if spec.saga:
                result = await workflow.execute_child_workflow(
                    spec.saga,
                    inp,
                    id=f"{scope.workflow_id}:tool:{scope.message_id}:{call.call_id}",
                    result_type=ToolCallResult,
                    search_attributes=_tenant_attribute(),
                    # A saga that moves money finishes (or compensates) even if the conversation is ended.
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
                # The saga's steps wrote rows of their own; the call the model made is recorded here.
                await self.record(
                    step,
                    index,
                    call,
                    result.model_copy(update={"call_id": call.call_id, "tool": spec.name}),
                    spec.version,
                )
                return result
            return await workflow.execute_activity(
                spec.activity_name,
                inp,
                result_type=ToolCallResult,
                start_to_close_timeout=timedelta(seconds=spec.timeout_seconds),
                heartbeat_timeout=timedelta(seconds=spec.heartbeat_seconds) if spec.heartbeat_seconds else None,
                retry_policy=spec.retry.policy(),
                activity_id=f"{scope.message_id}:{step}:{call.call_id}",
            )
        except (ActivityError, ChildWorkflowError) as err:
            if is_cancelled_exception(err):
                raise
            result, recorded = failure_result(call, err)
            if not recorded:
                await self.record(step, index, call, result, spec.version)
            return result


def _tenant_attribute() -> TypedSearchAttributes:
    """The saga is found in Temporal UI under its tenant like the conversation that started it."""
    pairs = [pair for pair in workflow.info().typed_search_attributes if pair.key.name == TENANT_ATTRIBUTE]
    return TypedSearchAttributes(pairs)


async def _finish(call: Awaitable[ToolCallResult]) -> ToolCallResult:
    """Await a write to its end even if the turn is interrupted meanwhile, then let the interrupt through.

    Cancelling a payment halfway helps nobody: the write completes (or compensates) and is recorded, and
    the turn stops right after.
    """
    task = asyncio.ensure_future(call)
    interrupted = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            interrupted = True
    if interrupted:
        raise asyncio.CancelledError()
    return result
