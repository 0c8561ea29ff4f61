"""An eval run as data: the inputs of `EvalRunWorkflow`, its per-task child and their activities, and what a
task's conversation left behind for the graders (`Observation`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field

from contracts.base import Frozen
from contracts.evals import ApprovalAnswer, Verdict

MAX_CONCURRENCY = 32
MAX_EVAL_TENANT_RETENTION = timedelta(days=30)


def eval_run_workflow_id(tenant_id: str, run_id: str) -> str:
    return f"{tenant_id}:eval:{run_id}"


def eval_task_workflow_id(tenant_id: str, run_id: str, task_id: str) -> str:
    return f"{tenant_id}:eval:{run_id}:{task_id}"


class JudgeSettings(Frozen):
    """The LLM judge of a run's rubrics. Verdicts come from `recordings` (JSON lines on the worker, keyed by
    model and prompt); with `record` the judge model is asked for the missing ones and they are appended,
    without it a missing verdict is a failed `judge` verdict and nothing is asked (CI: never a network)."""

    model: str = Field(min_length=1, max_length=200)
    recordings: str = Field(min_length=1, max_length=1000)
    repeats: int = Field(default=3, ge=1, le=10)
    record: bool = False
    # True: a task with a rubric passes only when the judge's median score passes too.
    gating: bool = False


class EvalRunInput(Frozen):
    """The tasks themselves are in the run's row (`eval_runs.tasks`); history holds only their ids."""

    tenant_id: str
    run_id: str
    task_ids: list[str] = Field(min_length=1)
    concurrency: int = Field(default=8, ge=1, le=MAX_CONCURRENCY)
    judge: JudgeSettings | None = None
    # Offboard each task's eval tenant once the task is graded, purging it after this long (the platform's
    # `TenantLifecycleWorkflow`); None keeps the eval tenants. The results stay with the run's owner.
    eval_tenant_retention: timedelta | None = Field(default=None, ge=timedelta(0), le=MAX_EVAL_TENANT_RETENTION)


class EvalRunResult(Frozen):
    run_id: str
    total: int
    passed: int


class EvalTaskInput(Frozen):
    tenant_id: str
    run_id: str
    task_id: str
    judge: JudgeSettings | None = None
    eval_tenant_retention: timedelta | None = None


class PrepareTaskInput(Frozen):
    tenant_id: str
    run_id: str
    task_id: str


class PreparedTurn(Frozen):
    """A turn as the customer sends it: references resolved, the script appended for scripted models."""

    content: str
    approval: ApprovalAnswer = ApprovalAnswer.DENY
    confirm: bool = True


class PreparedTask(Frozen):
    """The task's own tenant, seeded world and open conversation."""

    eval_tenant_id: str
    conversation_id: str
    agent: str
    customer_id: str | None = None
    turns: list[PreparedTurn]


class GradeTaskInput(Frozen):
    tenant_id: str
    run_id: str
    task_id: str
    eval_tenant_id: str
    conversation_id: str
    latency_ms: int = 0
    error: str = ""
    judge: JudgeSettings | None = None


class TaskGrade(Frozen):
    task_id: str
    passed: bool


class FinishRunInput(Frozen):
    tenant_id: str
    run_id: str
    error: str = ""


class ObservedCall(Frozen):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: str = ""
    error_type: str = ""


class ObservedTurn(Frozen):
    user: str
    answer: str = ""
    calls: list[ObservedCall] = Field(default_factory=list)


class ObservedOrder(Frozen):
    status: str
    refunded_cents: int = 0


class ObservedWorld(Frozen):
    orders: dict[str, ObservedOrder] = Field(default_factory=dict)
    tickets_opened: int = 0
    leads_captured: int = 0
    orders_placed: int = 0
    approvals_requested: int = 0


class Observation(Frozen):
    """What one task's conversation did, read back from the eval tenant after it ended."""

    turns: list[ObservedTurn] = Field(default_factory=list)
    world: ObservedWorld = Field(default_factory=ObservedWorld)
    refs: dict[str, str] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    model: str = ""
    error: str = ""

    @property
    def calls(self) -> list[ObservedCall]:
        return [call for turn in self.turns for call in turn.calls]

    @property
    def final_answer(self) -> str:
        return self.turns[-1].answer if self.turns else ""


class TaskResult(Frozen):
    task_id: str
    passed: bool
    verdicts: list[Verdict] = Field(default_factory=list)
    observation: Observation = Field(default_factory=Observation)


# Preparing a task creates a tenant and seeds its world; grading reads it back: seconds at most.
EVAL_ACTIVITY_START_TO_CLOSE_SECONDS = 60.0
EVAL_ACTIVITY_SCHEDULE_TO_CLOSE_SECONDS = 600.0
# Grading that asks a live judge model: up to 10 repeats of a model call, on a local model several seconds each.
EVAL_JUDGED_START_TO_CLOSE_SECONDS = 600.0
