"""`ConversationWorkflow`: one long-lived run per conversation, answering messages turn by turn.

Messages arrive through the `submit_message` update (validated before they enter history), are recorded
and announced once the run has accepted them (`workflows.intake`), then queued by the conversation's
double-texting policy. The main loop
takes one message at a time and runs the agent loop on it (`workflows.agent_turn`): model calls, tool calls
checked in code, human approvals through the `decide_approval` update, loop safety; a local activity
persists the answer and announces `message.completed`. The run continues-as-new when Temporal suggests it
and closes after an idle period; the next message starts a fresh run with the same id.

The run owns the concurrent-turn slot the gateway took for each message it accepted: the slot is given back
when the message's turn ends, however it ends, or when the message is superseded before its turn starts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError, is_cancelled_exception

from workflows.agent_cache import AgentCache
from workflows.agent_turn import AgentTurn
from workflows.approval_gate import ApprovalGate
from workflows.confirmation_gate import ConfirmationGate
from workflows.conversation_messages import (
    announce_turn_failed,
    failure_reason,
    send_channel_reply,
    validate_message,
)
from workflows.intake import Intake
from workflows.turn_io import release_turn_lease
from workflows.turn_trace import agent_id, in_trace

with workflow.unsafe.imports_passed_through():
    from contracts.agents import ApprovalDecision, ApprovalStatus
    from contracts.conversation import (
        ConversationInput,
        ConversationResult,
        ConversationState,
        ConversationStatus,
        DoubleTexting,
        QueuedMessage,
        SubmitAccepted,
        SubmitMessage,
    )
    from contracts.errors import InvalidConversationInput
    from contracts.names import WF_CONVERSATION
    from contracts.provenance import ConfirmationReply, ConfirmationStatus


@workflow.defn(name=WF_CONVERSATION)
class ConversationWorkflow:
    @workflow.init
    def __init__(self, inp: ConversationInput) -> None:
        self._input = inp
        self._pending: list[QueuedMessage] = list(inp.pending)
        self._intake = Intake(inp.tenant_id, inp.conversation_id, inp.seen_message_ids)
        self._current: QueuedMessage | None = None
        self._interrupted = False
        self._superseded: list[QueuedMessage] = []
        self._turns = inp.turns_completed
        self._turns_this_run = 0
        self._agent = inp.agent
        self._steps_total = inp.steps_total
        self._approvals = ApprovalGate()
        self._confirmations = ConfirmationGate()
        self._turn: AgentTurn | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._agents = AgentCache()

    @workflow.run
    async def run(self, inp: ConversationInput) -> ConversationResult:
        if not inp.tenant_id or not inp.conversation_id:
            raise InvalidConversationInput("tenant_id and conversation_id are required")
        idle = timedelta(seconds=inp.idle_timeout_seconds)
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._pending or self._superseded), timeout=idle)
            except TimeoutError:
                if not self._pending and workflow.all_handlers_finished():
                    return ConversationResult(conversation_id=inp.conversation_id, turns_completed=self._turns)
                continue
            await self._announce_superseded()
            if self._pending:
                await self._run_turn(self._pending.pop(0))
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                upgrade = self._next_run_versioning()
                workflow.continue_as_new(self._next_run_input(), initial_versioning_behavior=upgrade)

    # ---- update and query handlers --------------------------------------------------------------------

    @workflow.update(name="submit_message")
    async def submit_message(self, msg: SubmitMessage) -> SubmitAccepted:
        if not await self._intake.take(msg, self._agent):
            return SubmitAccepted(message_id=msg.message_id, duplicate=True)
        queued = QueuedMessage(
            message_id=msg.message_id,
            content=msg.content,
            client_message_id=msg.client_message_id,
            trace_carrier=msg.trace_carrier,
            agent_stamp=self._intake.pop_stamp(msg.message_id),
        )
        if self._input.double_texting == DoubleTexting.INTERRUPT and self._current is not None:
            self._interrupt_current_turn()
            self._superseded.extend(self._pending)
            self._pending.clear()
        self._pending.append(queued)
        return SubmitAccepted(message_id=msg.message_id, position=len(self._pending))

    @submit_message.validator
    def _validate_submit(self, msg: SubmitMessage) -> None:
        if self._intake.is_repeat(msg.message_id):
            return  # a repeat is answered with the original acceptance, whatever the policy
        busy = self._current is not None or bool(self._pending)
        validate_message(self._input, msg, busy=busy)

    @workflow.update(name="decide_approval")
    async def decide_approval(self, decision: ApprovalDecision) -> ApprovalStatus:
        """A human's decision on a pending approval; answers once the resolution is recorded."""
        return await self._approvals.decide(decision)

    @decide_approval.validator
    def _validate_decision(self, decision: ApprovalDecision) -> None:
        self._approvals.validate(decision)

    @workflow.update(name="confirm_action")
    async def confirm_action(self, reply: ConfirmationReply) -> ConfirmationStatus:
        """The customer's typed answer to a `confirmation.requested` question."""
        return await self._confirmations.answer(reply)

    @confirm_action.validator
    def _validate_confirmation(self, reply: ConfirmationReply) -> None:
        self._confirmations.validate(reply)

    @workflow.query(name="state")
    def state(self) -> ConversationState:
        waiting = self._approvals.pending_ids
        asking = self._confirmations.pending_ids
        status = ConversationStatus.RUNNING if self._current else ConversationStatus.IDLE
        if asking:
            status = ConversationStatus.AWAITING_CONFIRMATION
        return ConversationState(
            conversation_id=self._input.conversation_id,
            status=ConversationStatus.AWAITING_APPROVAL if waiting else status,
            current_message_id=self._current.message_id if self._current else None,
            pending_message_ids=[m.message_id for m in self._pending],
            turns_completed=self._turns,
            double_texting=self._input.double_texting,
            pending_approvals=waiting,
            agent=self._turn.agent if self._turn is not None else self._agent,
            steps_total=self._turn.steps_total if self._turn is not None else self._steps_total,
            pending_confirmations=asking,
        )

    # ---- turns ----------------------------------------------------------------------------------------

    async def _run_turn(self, msg: QueuedMessage) -> None:
        self._current = msg
        self._interrupted = False
        cancelled: BaseException | None = None
        answered = returned = False
        try:
            returned = await self._agent_turn(msg)
            answered = True
            self._turns += 1
            self._turns_this_run += 1
        except (ActivityError, ChildWorkflowError, asyncio.CancelledError) as err:
            if is_cancelled_exception(err) and not self._interrupted:
                cancelled = err  # the whole conversation is being cancelled, not just this turn
            else:
                await self._announce_failure(msg, err)
        finally:
            # Cleared first: a message sent right after the answer must not find the turn still busy.
            self._current = None
            self._turn_task = None
        # Every way the turn ends gives the slot back, but not from `finally`: a run dropped from the worker's
        # cache has its coroutine closed, and there it must not schedule anything on its way out. A turn that
        # answered from the `turn-steps` patch on gave it back with its answer.
        if not returned:
            await release_turn_lease(self._input.tenant_id, msg.message_id)
        if cancelled is not None:
            raise cancelled
        if answered:
            await send_channel_reply(self._input, msg.message_id)

    async def _agent_turn(self, msg: QueuedMessage) -> bool:
        """The agent loop, as a task of its own so an interrupt cancels whatever it waits on; True when the
        turn gave its concurrent-turn slot back with its answer."""
        self._turn = turn = AgentTurn(
            self._input,
            msg,
            agent=self._agent,
            steps_total=self._steps_total,
            gate=self._approvals,
            confirmations=self._confirmations,
            agents=self._agents,
            owns_lease=True,
        )
        traced = in_trace(
            msg.trace_carrier,
            turn.run(),
            agent=self._agent,
            agent_key=agent_id(self._input.tenant_id, self._agent),
            conversation_id=self._input.conversation_id,
        )
        self._turn_task = asyncio.create_task(traced)
        try:
            await self._turn_task
        finally:
            self._agent = turn.agent
            self._steps_total = turn.steps_total
            self._turn = None
        return turn.lease_released

    def _interrupt_current_turn(self) -> None:
        self._interrupted = True
        if self._turn_task is not None and not self._turn_task.done():
            self._turn_task.cancel()

    async def _announce_failure(self, msg: QueuedMessage, err: BaseException) -> None:
        reason, error_type = failure_reason(err, interrupted=self._interrupted)
        # After a handoff, the agent handed to: the turn counts with the agent that had it.
        await announce_turn_failed(self._input, msg.message_id, reason, error_type, self._agent)

    async def _announce_superseded(self) -> None:
        while self._superseded:
            msg = self._superseded.pop(0)
            await announce_turn_failed(
                self._input, msg.message_id, "superseded by a newer message", "Superseded", self._agent
            )
            await release_turn_lease(self._input.tenant_id, msg.message_id)

    # ---- continue-as-new ------------------------------------------------------------------------------

    def _should_continue_as_new(self) -> bool:
        if self._current is not None:
            return False
        limit = self._input.max_turns_per_run
        info = workflow.info()
        # A new deployment version became current while this run was pinned to the old one: move onto it
        # between turns, where the run's whole state is its input.
        upgrade = info.is_target_worker_deployment_version_changed()
        return upgrade or info.is_continue_as_new_suggested() or (0 < limit <= self._turns_this_run)

    @staticmethod
    def _next_run_versioning() -> workflow.ContinueAsNewVersioningBehavior | None:
        # The next run starts on the deployment's current version rather than inheriting the pin; from its
        # first task on it is pinned to that version again. Unversioned workers never see the flag.
        if workflow.info().is_target_worker_deployment_version_changed():
            return workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE
        return None

    def _next_run_input(self) -> ConversationInput:
        return self._input.model_copy(
            update={
                "pending": list(self._pending),
                "seen_message_ids": self._intake.seen_ids,
                "turns_completed": self._turns,
                "agent": self._agent,
                "steps_total": self._steps_total,
            }
        )
