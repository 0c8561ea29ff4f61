"""Starting an eval run: the run's row (with its tasks) first, then `EvalRunWorkflow` on the tenant's id.

Shared by `aiaas eval run` and the tests; the workflow finds its tasks in the row, so a run's history holds
only task ids however large the suite.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from contracts.eval_runs import EvalRunInput, EvalRunResult, JudgeSettings, eval_run_workflow_id
from contracts.evals import GoldenTask
from contracts.names import WF_EVAL_RUN
from contracts.search_attributes import TENANT_ID
from db.database import Database
from db.ids import new_id
from evaluation import agent_versions, store

# Empty: the agents answer on the models the platform is configured with.
DEFAULT_MODEL = ""


async def start_run(
    client: Client,
    db: Database,
    *,
    tenant_id: str,
    suite: str,
    tasks: list[GoldenTask],
    task_queue: str,
    model: str = DEFAULT_MODEL,
    agent_version: str = "",
    concurrency: int = 8,
    judge: JudgeSettings | None = None,
    pinned_agents: Collection[str] = (),
    eval_tenant_retention: timedelta | None = None,
) -> tuple[str, WorkflowHandle[Any, EvalRunResult]]:
    """Raises `AgentVersionInvalid` / `AgentVersionNotFound` (nothing stored, nothing started) for an
    `agent_version` that is malformed or names a version the tenant does not have."""
    run_id = new_id()
    workflow_id = eval_run_workflow_id(tenant_id, run_id)
    agent_version = agent_versions.canonical(agent_versions.parse(agent_version))
    async with db.tenant_session(tenant_id) as session:
        await agent_versions.load(session, agent_version, pinned=pinned_agents)
        await store.create_run(
            session,
            tenant_id=tenant_id,
            run_id=run_id,
            suite=suite,
            tasks=tasks,
            model=model,
            agent_version=agent_version,
            workflow_id=workflow_id,
        )
    handle = await client.start_workflow(
        WF_EVAL_RUN,
        EvalRunInput(
            tenant_id=tenant_id,
            run_id=run_id,
            task_ids=[t.id for t in tasks],
            concurrency=concurrency,
            judge=judge,
            eval_tenant_retention=eval_tenant_retention,
        ),
        id=workflow_id,
        task_queue=task_queue,
        result_type=EvalRunResult,
        search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT_ID, tenant_id)]),
    )
    return run_id, handle
