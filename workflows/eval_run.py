"""`EvalRunWorkflow`: a golden suite run as real conversations, one child workflow per task, then graded.

The run (`"{tenant}:eval:{run}"`) starts one `EvalTaskWorkflow` per task (`"{tenant}:eval:{run}:{task}"`),
at most `concurrency` at once, lanes pulling from one queue. A task:

    prepare (its own tenant, seeded world, open conversation) -> for each turn: record the customer's message,
    run the platform's agent loop (`AgentTurn`: model calls, tool calls, sagas, provenance checks, approvals)
    -> grade (read back what happened, deterministic graders, store the result)
    -> offboard the eval tenant when the run says so (`eval_tenant_retention`): `TenantLifecycleWorkflow` as an
       abandoned child, which exports, waits out the retention and purges it; the owner's results stay

The human of an approval and the customer of a confirmation are played by the task's data (`approval`,
`confirm` per turn), answered through the same gates the updates reach. The tasks themselves are in the
run's row; history carries only ids, verdict counts and the progress. A task that fails is graded failed,
never the run.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from workflows.agent_turn import AgentTurn
from workflows.approval_gate import ApprovalGate
from workflows.confirmation_gate import ConfirmationGate

with workflow.unsafe.imports_passed_through():
    from contracts.agents import ApprovalDecision, ApprovalDecisionKind
    from contracts.conversation import ConversationInput, QueuedMessage, RecordUserMessageInput
    from contracts.eval_runs import (
        EVAL_ACTIVITY_SCHEDULE_TO_CLOSE_SECONDS,
        EVAL_ACTIVITY_START_TO_CLOSE_SECONDS,
        EVAL_JUDGED_START_TO_CLOSE_SECONDS,
        EvalRunInput,
        EvalRunResult,
        EvalTaskInput,
        FinishRunInput,
        GradeTaskInput,
        PreparedTask,
        PreparedTurn,
        PrepareTaskInput,
        TaskGrade,
        eval_task_workflow_id,
    )
    from contracts.evals import ApprovalAnswer
    from contracts.lifecycle import TenantLifecycleInput, lifecycle_workflow_id
    from contracts.names import (
        ACT_EVAL_FINISH_RUN,
        ACT_EVAL_GRADE_TASK,
        ACT_EVAL_PREPARE_TASK,
        ACT_RECORD_USER_MESSAGE,
        WF_EVAL_RUN,
        WF_EVAL_TASK,
        WF_TENANT_LIFECYCLE,
    )
    from contracts.provenance import ConfirmationReply
    from contracts.retry import PERSISTENCE_RETRY
    from contracts.search_attributes import TENANT_ID

EVAL_DECIDER = "eval-run"


async def _activity(
    name: str,
    arg: object,
    result_type: type | None = None,
    start_to_close: float = EVAL_ACTIVITY_START_TO_CLOSE_SECONDS,
) -> object:
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=start_to_close),
        schedule_to_close_timeout=timedelta(seconds=EVAL_ACTIVITY_SCHEDULE_TO_CLOSE_SECONDS),
        retry_policy=PERSISTENCE_RETRY,
    )


@workflow.defn(name=WF_EVAL_TASK)
class EvalTaskWorkflow:
    @workflow.run
    async def run(self, inp: EvalTaskInput) -> TaskGrade:
        started = workflow.now()
        prepared = await _activity(
            ACT_EVAL_PREPARE_TASK,
            PrepareTaskInput(tenant_id=inp.tenant_id, run_id=inp.run_id, task_id=inp.task_id),
            PreparedTask,
        )
        assert isinstance(prepared, PreparedTask)
        error = ""
        try:
            await self._converse(prepared)
        except (ActivityError, ChildWorkflowError, ApplicationError) as err:
            error = f"{type(err).__name__}: {err.cause or err}"
        latency = workflow.now() - started
        grade = await _activity(
            ACT_EVAL_GRADE_TASK,
            GradeTaskInput(
                tenant_id=inp.tenant_id,
                run_id=inp.run_id,
                task_id=inp.task_id,
                eval_tenant_id=prepared.eval_tenant_id,
                conversation_id=prepared.conversation_id,
                latency_ms=int(latency.total_seconds() * 1000),
                error=error,
                judge=inp.judge,
            ),
            TaskGrade,
            # A judge asked live may take minutes; recorded verdicts are read in milliseconds.
            EVAL_JUDGED_START_TO_CLOSE_SECONDS
            if inp.judge is not None and inp.judge.record
            else EVAL_ACTIVITY_START_TO_CLOSE_SECONDS,
        )
        assert isinstance(grade, TaskGrade)
        if inp.eval_tenant_retention is not None:
            await self._offboard(inp, prepared.eval_tenant_id, inp.eval_tenant_retention)
        return grade

    @staticmethod
    async def _offboard(inp: EvalTaskInput, eval_tenant_id: str, retention: timedelta) -> None:
        """The eval tenant leaves through the platform's offboarding (export, retention, purge), started and
        left to run on its own: the run does not wait out the retention period."""
        await workflow.start_child_workflow(
            WF_TENANT_LIFECYCLE,
            TenantLifecycleInput(
                tenant_id=eval_tenant_id,
                retention=retention,
                actor=EVAL_DECIDER,
                reason=f"eval run {inp.run_id} task {inp.task_id} graded",
            ),
            id=lifecycle_workflow_id(eval_tenant_id),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT_ID, eval_tenant_id)]),
            static_summary=f"Offboard eval tenant {eval_tenant_id}",
        )

    async def _converse(self, prepared: PreparedTask) -> None:
        conversation = ConversationInput(
            tenant_id=prepared.eval_tenant_id,
            conversation_id=prepared.conversation_id,
            agent=prepared.agent,
            customer_id=prepared.customer_id,
        )
        agent, steps_total = prepared.agent, 0
        for turn in prepared.turns:
            message = QueuedMessage(message_id=str(workflow.uuid4()), content=turn.content)
            await _activity(
                ACT_RECORD_USER_MESSAGE,
                RecordUserMessageInput(
                    tenant_id=prepared.eval_tenant_id,
                    conversation_id=prepared.conversation_id,
                    message_id=message.message_id,
                    content=message.content,
                ),
            )
            agent_turn = await self._turn(conversation, message, turn, agent, steps_total)
            agent, steps_total = agent_turn.agent, agent_turn.steps_total

    async def _turn(
        self, conversation: ConversationInput, message: QueuedMessage, turn: PreparedTurn, agent: str, steps: int
    ) -> AgentTurn:
        """The platform's agent loop on one message; approvals and confirmations answered as they come up."""
        gate, confirmations = ApprovalGate(), ConfirmationGate()
        agent_turn = AgentTurn(
            conversation, message, agent=agent, steps_total=steps, gate=gate, confirmations=confirmations
        )
        running = asyncio.create_task(agent_turn.run())

        def asked_or_done() -> bool:
            return running.done() or bool(gate.pending_ids) or bool(confirmations.pending_ids)

        while not running.done():
            await workflow.wait_condition(asked_or_done)
            await self._answer(turn, gate, confirmations)
        await running
        return agent_turn

    @staticmethod
    async def _answer(turn: PreparedTurn, gate: ApprovalGate, confirmations: ConfirmationGate) -> None:
        """The reviewer and the customer, as the task's data says they answer."""
        kind = ApprovalDecisionKind.APPROVE if turn.approval == ApprovalAnswer.APPROVE else ApprovalDecisionKind.DENY
        for approval_id in gate.pending_ids:
            await gate.decide(ApprovalDecision(approval_id=approval_id, decision=kind, decided_by=EVAL_DECIDER))
        for confirmation_id in confirmations.pending_ids:
            await confirmations.answer(ConfirmationReply(confirmation_id=confirmation_id, confirmed=turn.confirm))


@workflow.defn(name=WF_EVAL_RUN)
class EvalRunWorkflow:
    def __init__(self) -> None:
        self._done = 0
        self._passed = 0
        self._total = 0

    @workflow.query(name="progress")
    def progress(self) -> dict[str, int]:
        return {"total": self._total, "done": self._done, "passed": self._passed}

    @workflow.run
    async def run(self, inp: EvalRunInput) -> EvalRunResult:
        self._total = len(inp.task_ids)
        queue = list(inp.task_ids)

        async def lane() -> None:
            while queue:
                task_id = queue.pop(0)
                try:
                    grade: TaskGrade = await workflow.execute_child_workflow(
                        WF_EVAL_TASK,
                        EvalTaskInput(
                            tenant_id=inp.tenant_id,
                            run_id=inp.run_id,
                            task_id=task_id,
                            judge=inp.judge,
                            eval_tenant_retention=inp.eval_tenant_retention,
                        ),
                        id=eval_task_workflow_id(inp.tenant_id, inp.run_id, task_id),
                        result_type=TaskGrade,
                    )
                    self._passed += int(grade.passed)
                except ChildWorkflowError:
                    workflow.logger.warning("eval task failed before grading", extra={"task_id": task_id})
                self._done += 1

        await asyncio.gather(*(lane() for _ in range(min(inp.concurrency, len(queue)))))
        result = await _activity(
            ACT_EVAL_FINISH_RUN, FinishRunInput(tenant_id=inp.tenant_id, run_id=inp.run_id), EvalRunResult
        )
        assert isinstance(result, EvalRunResult)
        return result
