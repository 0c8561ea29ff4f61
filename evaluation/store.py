"""Eval runs and results in Postgres (`eval_runs`, `eval_results`, migration 0017), under the owning
tenant's row-level security."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.eval_runs import TaskResult
from contracts.evals import GoldenTask
from db.database import run_sql

_SELECT_RUNS = (
    "SELECT id, suite, model, agent_version, status, total, passed, error, workflow_id, created_at, finished_at"
    " FROM eval_runs"
)
_AFTER = " WHERE (created_at, id) < (:created_at, :id) ORDER BY created_at DESC, id DESC LIMIT :limit"


async def create_run(
    session: AsyncSession,
    *,
    tenant_id: str,
    run_id: str,
    suite: str,
    tasks: list[GoldenTask],
    model: str = "",
    agent_version: str = "",
    workflow_id: str = "",
) -> None:
    await run_sql(
        session,
        "INSERT INTO eval_runs (id, tenant_id, suite, model, agent_version, total, tasks, workflow_id)"
        " VALUES (:id, :tid, :suite, :model, :version, :total, CAST(:tasks AS jsonb), :wf)",
        {
            "id": run_id,
            "tid": tenant_id,
            "suite": suite,
            "model": model,
            "version": agent_version,
            "total": len(tasks),
            "tasks": json.dumps([t.model_dump(mode="json") for t in tasks]),
            "wf": workflow_id,
        },
    )


async def run_task(session: AsyncSession, run_id: str, task_id: str) -> tuple[GoldenTask, str]:
    """One task of a run, and the run's model."""
    row = (
        (
            await run_sql(
                session,
                "SELECT t AS task, r.model FROM eval_runs r, jsonb_array_elements(r.tasks) t"
                " WHERE r.id = :id AND t->>'id' = :task",
                {"id": run_id, "task": task_id},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise LookupError(f"no task {task_id!r} in eval run {run_id!r}")
    return GoldenTask.model_validate(row["task"]), str(row["model"])


async def run_agent_version(session: AsyncSession, run_id: str) -> str:
    """The agent versions a run evaluates (`evaluation.agent_versions`); empty: the defaults."""
    found = await run_sql(session, "SELECT agent_version FROM eval_runs WHERE id = :id", {"id": run_id})
    return str(found.scalar_one_or_none() or "")


async def save_result(
    session: AsyncSession, *, tenant_id: str, run_id: str, task: GoldenTask, result: TaskResult, eval_tenant_id: str
) -> None:
    obs = result.observation
    await run_sql(
        session,
        "INSERT INTO eval_results (tenant_id, run_id, task_id, agent, category, passed, verdicts, observation,"
        " latency_ms, prompt_tokens, completion_tokens, cost_usd, eval_tenant_id)"
        " VALUES (:tid, :run, :task, :agent, :category, :passed, CAST(:verdicts AS jsonb), CAST(:obs AS jsonb),"
        " :latency, :pt, :ct, :cost, :etid)"
        " ON CONFLICT (tenant_id, run_id, task_id) DO UPDATE SET passed = EXCLUDED.passed,"
        " verdicts = EXCLUDED.verdicts, observation = EXCLUDED.observation, latency_ms = EXCLUDED.latency_ms,"
        " prompt_tokens = EXCLUDED.prompt_tokens, completion_tokens = EXCLUDED.completion_tokens,"
        " cost_usd = EXCLUDED.cost_usd, eval_tenant_id = EXCLUDED.eval_tenant_id",
        {
            "tid": tenant_id,
            "run": run_id,
            "task": task.id,
            "agent": task.agent,
            "category": task.category,
            "passed": result.passed,
            "verdicts": json.dumps([v.model_dump(mode="json") for v in result.verdicts]),
            "obs": obs.model_dump_json(),
            "latency": obs.latency_ms,
            "pt": obs.prompt_tokens,
            "ct": obs.completion_tokens,
            "cost": obs.cost_usd,
            "etid": eval_tenant_id,
        },
    )


async def finish_run(session: AsyncSession, run_id: str, error: str = "") -> tuple[int, int]:
    """Count the run's results into its row and close it; (total, passed)."""
    row = (
        (
            await run_sql(
                session,
                "UPDATE eval_runs r SET passed = (SELECT count(*) FROM eval_results e WHERE e.run_id = r.id"
                " AND e.tenant_id = r.tenant_id AND e.passed), status = :status, error = :error,"
                " finished_at = now() WHERE r.id = :id RETURNING r.total, r.passed",
                {"id": run_id, "status": "failed" if error else "completed", "error": error[:1000]},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise LookupError(f"no eval run {run_id!r}")
    return int(row["total"]), int(row["passed"])


def _run(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["pass_rate"] = round(out["passed"] / out["total"], 4) if out["total"] else 0.0
    return out


async def list_runs(
    session: AsyncSession, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[dict[str, Any]]:
    """Newest first; `after` is (created_at, id) of the last run of the previous page."""
    if after is None:
        sql = _SELECT_RUNS + " ORDER BY created_at DESC, id DESC LIMIT :limit"
        params: dict[str, Any] = {"limit": limit}
    else:
        sql = _SELECT_RUNS + _AFTER
        params = {"limit": limit, "created_at": after[0], "id": after[1]}
    return [_run(r) for r in (await run_sql(session, sql, params)).mappings().all()]


async def get_run(session: AsyncSession, run_id: str) -> dict[str, Any] | None:
    found = (await run_sql(session, _SELECT_RUNS + " WHERE id = :id", {"id": run_id})).mappings().first()
    return _run(found) if found is not None else None


async def run_results(session: AsyncSession, run_id: str) -> list[dict[str, Any]]:
    result = await run_sql(
        session,
        "SELECT task_id, agent, category, passed, verdicts, observation, latency_ms, prompt_tokens,"
        " completion_tokens, cost_usd FROM eval_results WHERE run_id = :id ORDER BY task_id",
        {"id": run_id},
    )
    return [dict(r) for r in result.mappings().all()]
