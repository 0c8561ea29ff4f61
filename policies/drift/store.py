"""The drift analysis's SQL: a tenant's turn facts for a window, and its stored reports.

Everything runs in the tenant's own session, so row-level security scopes every read and write. A turn is a
customer's message (`messages`, role user) in the window; what answered it, when and on which model comes from
the transcript (the answer's `reply_to` and `created_at`), what it cost from the settled rows of the usage
ledger (their key holds the message id: `<workflow>:<message>:model:<step>` or `...:tool:<call>`), and how its
tools fared from `tool_calls`. A message without an answer is a failed turn.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from policies.drift.detector import DriftAnalysis
from policies.drift.facts import TurnFact

_REPORT_NS = uuid.UUID("0e3c5d52-4b8f-4f6e-9a43-1f7d2c6b8a90")
# Ledger rows and tool calls of a turn are written after its question and may land after midnight.
_SLACK = "interval '1 day'"
# The ledger row's message: its key is `<workflow>:<message>:(model|tool):...` and `workflow_id` is its
# workflow, so the message is the first field after that prefix, found with plain string functions. The regular
# expression (the leftmost `<field>:(model|tool):` of the key) answers only for keys of another shape: it cost
# about 80 % of the read (tens of microseconds a row against under one for the string functions).
_REST = "substr(key, length(workflow_id) + 2)"
_MESSAGE_ID = f"""CASE WHEN starts_with(key, workflow_id || ':') AND split_part({_REST}, ':', 1) <> ''
        AND split_part({_REST}, ':', 2) IN ('model', 'tool')
        AND strpos(substr({_REST}, length(split_part({_REST}, ':', 1)) + 2), ':') > 0
    THEN split_part({_REST}, ':', 1) ELSE substring(key FROM '([^:]+):(model|tool):') END"""
_FACTS = f"""
WITH q AS (
    SELECT m.id, m.created_at, c.agent FROM messages m
    JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
    WHERE m.role = 'user' AND m.created_at >= :start AND m.created_at < :end
), a AS (
    SELECT reply_to, created_at, model FROM messages
    WHERE role = 'assistant' AND reply_to IN (SELECT id FROM q)
), l AS (
    SELECT {_MESSAGE_ID} AS message_id, sum(cost_usd) AS cost,
           sum(prompt_tokens + completion_tokens) AS tokens,
           max(NULLIF(model, '')) FILTER (WHERE kind = 'model') AS model, max(NULLIF(agent, '')) AS agent
    FROM usage_ledger
    WHERE status = 'settled' AND created_at >= :start AND created_at < CAST(:end AS timestamptz) + {_SLACK}
    GROUP BY 1
), t AS (
    SELECT message_id, count(*) AS calls, count(*) FILTER (WHERE status IN ('error', 'unavailable')) AS failures
    FROM tool_calls
    WHERE created_at >= :start AND created_at < CAST(:end AS timestamptz) + {_SLACK}
    GROUP BY message_id
)
SELECT (q.created_at AT TIME ZONE 'UTC')::date AS day, COALESCE(l.agent, q.agent) AS agent,
       COALESCE(a.model, l.model, '') AS model, COALESCE(l.cost, 0) AS cost, COALESCE(l.tokens, 0) AS tokens,
       EXTRACT(EPOCH FROM a.created_at - q.created_at) * 1000 AS latency_ms, a.reply_to IS NULL AS failed,
       COALESCE(t.calls, 0) AS calls, COALESCE(t.failures, 0) AS failures
FROM q LEFT JOIN a ON a.reply_to = q.id LEFT JOIN l ON l.message_id = q.id LEFT JOIN t ON t.message_id = q.id
ORDER BY q.created_at, q.id
"""  # noqa: S608 - constants only; every value is a bound parameter


def day_start(day: date) -> datetime:

    return datetime.combine(day, time(0), tzinfo=UTC)


async def turn_facts(session: AsyncSession, start: datetime, end: datetime) -> list[TurnFact]:
    """The turns whose question was asked in [start, end), of the session's tenant, by the question's time and id."""
    rows = await run_sql(session, _FACTS, {"start": start, "end": end})
    return [
        TurnFact(
            agent=str(r.agent),
            model=str(r.model),
            cost_usd=float(r.cost),
            tokens=int(r.tokens),
            latency_ms=None if r.latency_ms is None else max(0.0, float(r.latency_ms)),
            failed=bool(r.failed),
            tool_calls=int(r.calls),
            tool_failures=int(r.failures),
            day=r.day.toordinal(),
        )
        for r in rows
    ]


def findings_json(analysis: DriftAnalysis) -> list[dict[str, Any]]:
    return [
        {
            "agent": t.agent,
            "model": t.model,
            "metric": t.metric,
            "baseline": t.baseline,
            "current": t.current,
            "effect": t.effect,
            "min_effect": t.min_effect,
            "p_value": t.p_value,
            "q_value": t.q_value,
            "n_baseline": t.n_baseline,
            "n_current": t.n_current,
        }
        for t in analysis.findings
    ]


def costs_json(analysis: DriftAnalysis) -> list[dict[str, Any]]:
    return [
        {
            "agent": c.agent,
            "baseline_daily_usd": str(c.baseline_daily_usd),
            "current_usd": str(c.current_usd),
            "change_usd": str(c.change_usd),
            "effects_usd": {name: str(value) for name, value in c.effects().items()},
            "dominant": c.dominant,
        }
        for c in analysis.costs
    ]


def advice_json(analysis: DriftAnalysis) -> list[dict[str, Any]]:
    return [{"n": n, "kind": a.kind, "reason": a.reason, "params": a.params} for n, a in enumerate(analysis.advice)]


def report_id(tenant_id: str, night: date) -> str:
    """One report per tenant and night: its id derives from both, so a re-run finds and rewrites it."""
    return str(uuid.uuid5(_REPORT_NS, f"{tenant_id}:{night.isoformat()}"))


@dataclass(frozen=True, slots=True)
class StoredReport:
    id: str
    created: bool


async def save_report(
    session: AsyncSession,
    tenant_id: str,
    night: date,
    baseline_days: int,
    analysis: DriftAnalysis,
    workflow_id: str,
) -> StoredReport:
    """One report per tenant and night: analysing a night again rewrites its row and keeps its id."""

    row = (
        await run_sql(
            session,
            """
            INSERT INTO drift_reports (id, tenant_id, night, detected, baseline_days, baseline_turns, current_turns,
                                       findings, costs, advice, tests, workflow_id)
            VALUES (:id, :tid, :night, :detected, :days, :bt, :ct, CAST(:findings AS jsonb), CAST(:costs AS jsonb),
                    CAST(:advice AS jsonb), :tests, :wf)
            ON CONFLICT (tenant_id, id) DO UPDATE SET detected = EXCLUDED.detected,
                baseline_days = EXCLUDED.baseline_days, baseline_turns = EXCLUDED.baseline_turns,
                current_turns = EXCLUDED.current_turns, findings = EXCLUDED.findings, costs = EXCLUDED.costs,
                advice = EXCLUDED.advice, tests = EXCLUDED.tests, workflow_id = EXCLUDED.workflow_id
            RETURNING id, (xmax = 0) AS created
            """,
            {
                "id": report_id(tenant_id, night),
                "tid": tenant_id,
                "night": night,
                "detected": analysis.detected,
                "days": baseline_days,
                "bt": analysis.baseline_turns,
                "ct": analysis.current_turns,
                "findings": json.dumps(findings_json(analysis)),
                "costs": json.dumps(costs_json(analysis)),
                "advice": json.dumps(advice_json(analysis)),
                "tests": len(analysis.tests),
                "wf": workflow_id,
            },
        )
    ).one()
    return StoredReport(id=str(row.id), created=bool(row.created))


_COLUMNS = (
    "id, night, detected, baseline_days, baseline_turns, current_turns, findings, costs, advice, tests, created_at"
)


async def list_reports(
    session: AsyncSession, *, after: tuple[date, str] | None, limit: int, detected: bool | None = None
) -> list[Any]:
    """Newest night first."""
    where = ["(CAST(:detected AS boolean) IS NULL OR detected = :detected)"]
    if after is not None:
        where.append("(night, id) < (:night, :id)")
    sql = f"SELECT {_COLUMNS} FROM drift_reports WHERE {' AND '.join(where)} ORDER BY night DESC, id DESC LIMIT :limit"  # noqa: S608
    params: dict[str, Any] = {"limit": limit, "detected": detected}
    if after is not None:
        params.update(night=after[0], id=after[1])
    return list((await run_sql(session, sql, params)).all())


async def read_report(session: AsyncSession, report_id: str) -> Any | None:
    sql = f"SELECT {_COLUMNS} FROM drift_reports WHERE id = :id"  # noqa: S608
    return (await run_sql(session, sql, {"id": report_id})).first()


async def applied_advice(session: AsyncSession, report_id: str) -> dict[int, Any]:
    rows = await run_sql(
        session,
        "SELECT n, kind, applied_by, applied_at, details FROM drift_advice_applied WHERE report_id = :id",
        {"id": report_id},
    )
    return {int(r.n): r for r in rows}


async def mark_applied(
    session: AsyncSession, tenant_id: str, report_id: str, n: int, kind: str, actor: str, details: dict[str, Any]
) -> bool:
    """True the first time; False when this advice was applied already (the row is the once-only guard)."""

    result = await run_sql(
        session,
        "INSERT INTO drift_advice_applied (tenant_id, report_id, n, kind, applied_by, details)"
        " VALUES (:tid, :rid, :n, :kind, :by, CAST(:details AS jsonb)) ON CONFLICT DO NOTHING",
        {"tid": tenant_id, "rid": report_id, "n": n, "kind": kind, "by": actor, "details": json.dumps(details)},
    )
    return bool(getattr(result, "rowcount", 0))
