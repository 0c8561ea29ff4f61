"""`EvalRunWorkflow` scenario: three golden tasks run as conversations, graded, stored; kept are the run and
the task whose refund waited for (and was denied by) the reviewer the task's data plays."""

from __future__ import annotations

from temporalio.client import WorkflowHandle

from contracts.eval_runs import EvalRunResult, eval_task_workflow_id
from evaluation.starter import start_run
from evaluation.suites import load_suite
from tests.workflows.scenarios import Recording

TASKS = ("orders.cancel.twice.ada", "orders.refund.large.ada.deny", "support.status.ada.placed.0")


async def run(rec: Recording) -> list[WorkflowHandle]:
    owner = await rec.new_tenant("evals")
    tasks = [t for t in load_suite("golden") if t.id in TASKS]
    run_id, handle = await start_run(
        rec.client, rec.db, tenant_id=owner, suite="golden", tasks=tasks, task_queue=rec.queue, concurrency=2
    )
    result: EvalRunResult = await handle.result()
    assert result.total == 3 and result.passed == 3, result
    child = rec.client.get_workflow_handle(eval_task_workflow_id(owner, run_id, "orders.refund.large.ada.deny"))
    return [handle, child]
