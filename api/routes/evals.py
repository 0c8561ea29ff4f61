"""`/v1/evals/runs`: the caller's tenant's eval runs (`aiaas eval run`), and one run with its per-task verdicts.

Reading needs `tenant:read`. Every read runs under the tenant's row-level security, so another tenant's run
id answers 404 like a missing one. A run's conversations ran in eval tenants of their own; the transcript and
tool calls each task left are in its `observation`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import StateDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from evaluation.store import get_run, list_runs, run_results
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/evals", tags=["evals"])

EvalReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]


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
