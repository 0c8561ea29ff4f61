"""`/v1/evals/runs`: the caller's tenant's eval runs (`aiaas eval run`), and one run with its per-task verdicts.

`POST /v1/evals/runs` starts a run as `aiaas eval run` does (a suite, optionally a task glob, a pinned model and
the tenant's saved agent versions, `orders@3,support@2`), answering 202 with the run's id; it needs
`agents:manage` (it runs the tenant's agents) and refuses, before anything is stored, a malformed agent version
(422) and one the tenant does not have, another tenant's included (404). Each task's eval tenant is offboarded
once graded (`eval_tenant_retention_hours`, default 24; null keeps them).

Reading needs `tenant:read`. Every read runs under the tenant's row-level security, so another tenant's run
id answers 404 like a missing one. A run's conversations ran in eval tenants of their own; the transcript and
tool calls each task left are in its `observation`.
"""

from __future__ import annotations

import fnmatch
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from temporalio.service import RPCError

from agents.definitions import pinned_agent_names
from api.deps import StateDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from contracts.eval_runs import MAX_CONCURRENCY
from evaluation.agent_versions import AgentVersionInvalid, AgentVersionNotFound
from evaluation.starter import start_run
from evaluation.store import get_run, list_runs, run_results
from evaluation.suites import SuiteError, load_suite, suite_names
from router.catalog import catalog_at
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/evals", tags=["evals"])

EvalReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
EvalRunner = Annotated[TenantPrincipal, requires(Permission.AGENTS_MANAGE)]


class RunRequest(BaseModel):
    model_config = {"extra": "forbid"}

    suite: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_-]+$")
    tasks: str | None = Field(default=None, min_length=1, max_length=200, description="a glob of task ids")
    model: str = Field(default="", max_length=200, description="pin every turn to this model; empty: the agents'")
    agent_version: str = Field(
        default="", max_length=1000, description="the tenant's saved agent versions, NAME@N[,NAME@N]"
    )
    concurrency: int = Field(default=8, ge=1, le=MAX_CONCURRENCY)
    eval_tenant_retention_hours: float | None = Field(default=24.0, ge=0, le=720)


class RunStarted(BaseModel):
    id: str
    suite: str
    tasks: int


class RunSummary(BaseModel):
    id: str
    suite: str
    model: str = Field(description="the model every task was pinned to; empty: the platform's configured models")
    agent_version: str
    status: str = Field(description="running, completed or failed")
    total: int
    passed: int
    pass_rate: float
    created_at: datetime
    finished_at: datetime | None = None


class TaskResultOut(BaseModel):
    task_id: str
    agent: str
    category: str
    passed: bool
    verdicts: list[dict[str, Any]] = Field(
        description="each grader's verdict: grader, passed, detail; a judge's also score, spread and gating"
    )
    latency_ms: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    observation: dict[str, Any] | None = Field(
        default=None, description="transcript, tool calls and final world state (with `include=observations`)"
    )


class RunOut(RunSummary):
    error: str
    results: list[TaskResultOut]


def _not_found() -> ApiError:
    return ApiError(404, "eval_run_not_found", "no such eval run")


def _summary(row: dict[str, Any]) -> RunSummary:
    return RunSummary(**{k: row[k] for k in RunSummary.model_fields})


@router.post("/runs", response_model=RunStarted, status_code=202)
async def start_eval_run(body: RunRequest, principal: EvalRunner, state: StateDep) -> RunStarted:
    if body.suite not in suite_names():
        raise ApiError(404, "eval_suite_not_found", f"no suite {body.suite!r}")
    try:
        tasks = load_suite(body.suite)
    except SuiteError as exc:
        raise ApiError(422, "eval_suite_invalid", str(exc)) from exc
    if body.tasks:
        tasks = [t for t in tasks if fnmatch.fnmatchcase(t.id, body.tasks)]
        if not tasks:
            raise ApiError(422, "eval_tasks_empty", f"no task of suite {body.suite!r} matches {body.tasks!r}")
    if body.model and catalog_at(state.settings.router_catalog).get(body.model) is None:
        raise ApiError(422, "model_unknown", f"the model catalog has no model {body.model!r}")
    retention = body.eval_tenant_retention_hours
    try:
        run_id, _handle = await start_run(
            state.temporal,
            state.db,
            tenant_id=principal.tenant_id,
            suite=body.suite,
            tasks=tasks,
            task_queue=state.settings.task_queue,
            model=body.model,
            agent_version=body.agent_version,
            concurrency=body.concurrency,
            pinned_agents=pinned_agent_names(state.settings),
            eval_tenant_retention=None if retention is None else timedelta(hours=retention),
        )
    except AgentVersionInvalid as exc:
        raise ApiError(422, "agent_version_invalid", str(exc)) from exc
    except AgentVersionNotFound as exc:
        raise ApiError(404, "agent_version_not_found", str(exc)) from exc
    except RPCError as exc:
        raise ApiError(503, "engine_unavailable", "the workflow engine did not answer; retry shortly") from exc
    return RunStarted(id=run_id, suite=body.suite, tasks=len(tasks))


@router.get("/runs", response_model=Page[RunSummary])
async def list_eval_runs(principal: EvalReader, state: StateDep, page: PageDep) -> Page[RunSummary]:
    scope = page.scope("eval_runs", principal.tenant_id)
    after = page.after(scope, str, str)
    position = (datetime.fromisoformat(after[0]), after[1]) if after else None
    async with state.db.tenant_session(principal.tenant_id) as session:
        rows = await list_runs(session, after=position, limit=page.limit + 1)
    return page.of([_summary(r) for r in rows], scope, key=lambda r: (r.created_at.isoformat(), r.id))


@router.get("/runs/{run_id}", response_model=RunOut)
async def read_eval_run(
    run_id: str,
    principal: EvalReader,
    state: StateDep,
    include: Annotated[str | None, Query(pattern="^observations$", description="`observations`")] = None,
) -> RunOut:
    try:
        if str(uuid.UUID(run_id)) != run_id:
            raise _not_found()
    except ValueError:
        raise _not_found() from None
    async with state.db.tenant_session(principal.tenant_id) as session:
        run = await get_run(session, run_id)
        if run is None:
            raise _not_found()
        results = await run_results(session, run_id)
    return RunOut(
        **_summary(run).model_dump(),
        error=run["error"],
        results=[TaskResultOut(**{**r, "observation": r["observation"] if include else None}) for r in results],
    )
