"""Router canaries in Postgres (`router_canaries`), and the two arms' records the canary rule reads.

Every function runs in the caller's tenant session, so row-level security scopes it to one tenant. An arm is
decided the way the router decides it (`router.canary.Canary`: a hash of the canary's id and the conversation's),
so the comparison is of randomly assigned conversations: every turn of the tenant since the canary began,
canary conversations against the others, whichever tier they were routed to. A question asked in the last
`SETTLE` is left out (its answer may still be coming). Eval pass rates compare the completed eval runs since
the canary began pinned to the canary's model against those pinned to the control model.

A canary's `subject` says what it tries (`contracts.canary.CanarySubject`): a model (`model`, `tier` and
`control_model` say which), an agent version (the arms are that agent's turns: each turn counts with the
agent that answered it, `messages.agent`, so turns after a handoff count with the agent handed to; a turn
that failed without an answer with the agent that had it, kept on its question's row; a turn recorded before
those columns with the agent its conversation started with; eval runs of
exactly `agent@version` against `agent@control_version`) or a routing threshold (no eval comparison: a
threshold changes which tier answers, which the turns' own records measure).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.canary import (
    AgentVersionSubject,
    CanaryRule,
    CanaryStatus,
    CanarySubject,
    CanaryVerdict,
    ModelSubject,
    RouterThresholdSubject,
)
from db.database import run_sql
from router.canary import Canary, SubjectCanary, assignment
from router.canary_rule import Arm

SETTLE = "interval '2 minutes'"
OPEN = (CanaryStatus.RUNNING.value, CanaryStatus.AWAITING_APPROVAL.value)
_COLUMNS = (
    "id, model, tier, share, control_model, require_approval, rule, status, reason, last_check, checks,"
    " created_by, decided_by, workflow_id, created_at, finished_at, subject"
)
_SUBJECT: TypeAdapter[ModelSubject | AgentVersionSubject | RouterThresholdSubject] = TypeAdapter(CanarySubject)
_TURNS = f"""
WITH q AS (
    SELECT id, conversation_id, created_at, agent FROM messages
    WHERE role = 'user' AND created_at >= :start AND created_at < now() - {SETTLE}
), a AS (
    SELECT reply_to, min(created_at) AS created_at, min(agent) AS agent FROM messages
    WHERE role = 'assistant' AND reply_to IN (SELECT id FROM q) GROUP BY reply_to
), l AS (
    SELECT substring(key FROM '([^:]+):(model|tool):') AS message_id, sum(cost_usd) AS cost
    FROM usage_ledger WHERE status = 'settled' AND created_at >= :start GROUP BY 1
)
SELECT q.conversation_id, EXTRACT(EPOCH FROM a.created_at - q.created_at) * 1000 AS latency_ms,
       a.reply_to IS NULL AS failed, COALESCE(l.cost, 0) AS cost
FROM q LEFT JOIN a ON a.reply_to = q.id LEFT JOIN l ON l.message_id = q.id
WHERE CAST(:agent AS text) IS NULL
   OR COALESCE(a.agent, q.agent, (SELECT c.agent FROM conversations c WHERE c.id = q.conversation_id))
      = CAST(:agent AS text)
"""  # noqa: S608 - constants only; every value is a bound parameter
_EVALS = """
SELECT COALESCE(sum(passed), 0) AS passed, COALESCE(sum(total), 0) AS total FROM eval_runs
WHERE status = 'completed' AND created_at >= :start
"""
_EVALS_BY = {"model": " AND model = :value", "agent_version": " AND agent_version = :value"}


class CanaryConflict(Exception):
    """The tenant already runs a canary."""


@dataclass(frozen=True)
class StoredCanary:
    tenant_id: str
    id: str
    model: str
    tier: str
    share: float
    control_model: str
    require_approval: bool
    rule: CanaryRule
    status: CanaryStatus
    reason: str
    last_check: dict[str, Any] | None
    checks: int
    created_by: str
    decided_by: str
    workflow_id: str
    created_at: datetime
    finished_at: datetime | None
    subject: ModelSubject | AgentVersionSubject | RouterThresholdSubject

    @property
    def assignment(self) -> Canary | SubjectCanary:
        """The router's canary: the same id (tenant and subject), so the arms here are the arms it assigned."""
        return assignment(self.tenant_id, self.subject, self.share)

    @property
    def kind(self) -> str:
        return self.subject.kind

    def compared(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """What the eval runs of each arm are pinned to: (column, value) for the canary and the control."""
        if isinstance(self.subject, AgentVersionSubject):
            s = self.subject
            control = "" if s.control_version is None else f"{s.agent}@{s.control_version}"
            return ("agent_version", f"{s.agent}@{s.version}"), ("agent_version", control)
        if isinstance(self.subject, RouterThresholdSubject):
            return ("", ""), ("", "")
        return ("model", self.model), ("model", self.control_model)


def new_id() -> str:
    return str(uuid.uuid4())


def workflow_id(tenant_id: str, canary_id: str) -> str:
    return f"{tenant_id}:router-canary:{canary_id}"


def _stored(tenant_id: str, row: Any) -> StoredCanary:
    return StoredCanary(
        tenant_id=tenant_id,
        id=row.id,
        model=row.model,
        tier=row.tier,
        share=float(row.share),
        control_model=row.control_model,
        require_approval=bool(row.require_approval),
        rule=CanaryRule.model_validate(row.rule or {}),
        status=CanaryStatus(row.status),
        reason=row.reason,
        last_check=row.last_check,
        checks=int(row.checks),
        created_by=row.created_by,
        decided_by=row.decided_by,
        workflow_id=row.workflow_id,
        created_at=row.created_at,
        finished_at=row.finished_at,
        subject=_subject(row),
    )


def _subject(row: Any) -> ModelSubject | AgentVersionSubject | RouterThresholdSubject:
    raw = dict(row.subject or {})
    if raw.get("kind", "model") == "model":
        # Canaries stored before subjects existed, and model canaries since: the model is the row's.
        return ModelSubject(model=row.model)
    return _SUBJECT.validate_python(raw)


async def create(session: AsyncSession, canary: StoredCanary) -> None:
    """Insert a running canary; `CanaryConflict` when the tenant already has one open."""
    try:
        async with session.begin_nested():
            await run_sql(
                session,
                """
                INSERT INTO router_canaries (tenant_id, id, model, tier, share, control_model, require_approval,
                    rule, status, created_by, workflow_id, subject)
                VALUES (:t, :id, :model, :tier, :share, :control, :approval, CAST(:rule AS jsonb), 'running', :by, :wf,
                    CAST(:subject AS jsonb))
                """,
                {
                    "t": canary.tenant_id,
                    "id": canary.id,
                    "model": canary.model,
                    "tier": canary.tier,
                    "share": canary.share,
                    "control": canary.control_model,
                    "approval": canary.require_approval,
                    "rule": canary.rule.model_dump_json(),
                    "by": canary.created_by,
                    "wf": canary.workflow_id,
                    "subject": canary.subject.model_dump_json(),
                },
            )
    except IntegrityError as exc:
        raise CanaryConflict("a canary is already running for this tenant") from exc


async def get(session: AsyncSession, tenant_id: str, canary_id: str) -> StoredCanary | None:
    row = (
        await run_sql(session, f"SELECT {_COLUMNS} FROM router_canaries WHERE id = :id", {"id": canary_id})  # noqa: S608
    ).first()
    return None if row is None else _stored(tenant_id, row)


async def list_page(
    session: AsyncSession, tenant_id: str, *, before: tuple[datetime, str] | None, limit: int
) -> list[StoredCanary]:
    """Newest first, keyset-paged on (created_at, id)."""
    where = "WHERE (created_at, id) < (:at, :id)" if before else ""
    params: dict[str, Any] = {"limit": limit}
    if before:
        params.update(at=before[0], id=before[1])
    rows = await run_sql(
        session,
        f"SELECT {_COLUMNS} FROM router_canaries {where} ORDER BY created_at DESC, id DESC LIMIT :limit",  # noqa: S608
        params,
    )
    return [_stored(tenant_id, r) for r in rows]


async def record_check(session: AsyncSession, canary_id: str, verdict: CanaryVerdict, status: CanaryStatus) -> None:
    await run_sql(
        session,
        "UPDATE router_canaries SET last_check = CAST(:check AS jsonb), checks = checks + 1, status = :status"
        " WHERE id = :id AND status IN ('running', 'awaiting_approval')",
        {"id": canary_id, "check": verdict.model_dump_json(), "status": status.value},
    )


async def finish(session: AsyncSession, canary_id: str, status: CanaryStatus, reason: str, actor: str) -> bool:
    """Close an open canary; False when it was closed already (a retried activity changes nothing)."""
    row = (
        await run_sql(
            session,
            "UPDATE router_canaries SET status = :status, reason = :reason, decided_by = :actor, finished_at = now()"
            " WHERE id = :id AND status IN ('running', 'awaiting_approval') RETURNING id",
            {"id": canary_id, "status": status.value, "reason": reason[:500], "actor": actor[:200]},
        )
    ).first()
    return row is not None


async def reclose(session: AsyncSession, canary_id: str, status: CanaryStatus, reason: str) -> None:
    """Correct how a canary closed in this transaction ended (a promotion found impossible)."""
    await run_sql(
        session,
        "UPDATE router_canaries SET status = :status, reason = :reason WHERE id = :id",
        {"id": canary_id, "status": status.value, "reason": reason[:500]},
    )


async def arms(session: AsyncSession, canary: StoredCanary) -> tuple[Arm, Arm]:
    """The canary's and the control's turns and eval tasks since the canary began."""
    agent = canary.subject.agent if isinstance(canary.subject, AgentVersionSubject) else None
    rows = (await run_sql(session, _TURNS, {"start": canary.created_at, "agent": agent})).all()
    assigned = canary.assignment
    split: dict[bool, list[Any]] = {True: [], False: []}
    for r in rows:
        split[assigned.includes(str(r.conversation_id))].append(r)

    async def evals(column: str, value: str) -> tuple[int, int]:
        if not column or not value:
            return 0, 0
        query = _EVALS + _EVALS_BY[column]
        row = (await run_sql(session, query, {"value": value, "start": canary.created_at})).one()
        return int(row.passed), int(row.total)

    result = []
    treated, control = canary.compared()
    for in_canary, (column, value) in ((True, treated), (False, control)):
        turns = split[in_canary]
        passed, total = await evals(column, value)
        result.append(
            Arm(
                turns=len(turns),
                failed=sum(1 for r in turns if r.failed),
                latencies_ms=[max(0.0, float(r.latency_ms)) for r in turns if r.latency_ms is not None],
                costs_usd=[float(r.cost) for r in turns],
                eval_passed=passed,
                eval_total=total,
            )
        )
    return result[0], result[1]


def check_json(verdict: CanaryVerdict) -> dict[str, Any]:
    return dict(json.loads(verdict.model_dump_json()))
