"""The `approvals.record` activity: a tool call's approval request and its resolution, kept and announced.

The conversation workflow decides; this records. A request inserts the `approvals` row (status pending,
with its deadline), appends `approval.requested` to the tenant's audit chain and announces it on the
conversation's stream. A resolution moves the row out of pending exactly once and is audited and announced
the same way. Every write is idempotent by the approval id, so a retried or replayed activity changes
nothing twice. The stream carries what the customer may see (tool, arguments, status, deadline); who
decided and their note stay in the row and the audit log. The arguments and the note are sealed at rest under
the tenant's data key (`agents.sealed_records`), and so are they in the audit events (`private`, which erasure
of the conversation's customer empties without breaking the chain).
"""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import structlog
from temporalio import activity

from agents.sealed_records import APPROVALS, open_fields, seal_fields
from contracts.agents import ApprovalRecordInput, ApprovalStatus
from contracts.events import EventType
from contracts.names import ACT_RECORD_APPROVAL
from core.events import EventBus
from db.database import Database, run_sql
from tenancy.audit import record_event_once

log = structlog.get_logger("aiaas.approvals")

# Arguments are kept in the audit event only while small; the row always has them.
_AUDIT_ARGUMENTS_BYTES = 4096
WORKFLOW_ACTOR = "workflow:conversation"

_INSERT = """
INSERT INTO approvals (id, tenant_id, conversation_id, message_id, call_id, tool, arguments, note, status,
                       fields_sealed, key_version, requested_at, expires_at)
VALUES (:id, :tid, :cid, :mid, :call_id, :tool, CAST(:arguments AS jsonb), :note, 'pending',
        :fields_sealed, :key_version, now(), now() + make_interval(secs => :secs))
ON CONFLICT (id) DO NOTHING
"""
_RESOLVE = """
UPDATE approvals SET status = :status, decided_at = now(), decided_by = :decided_by, note = :note,
    arguments = CAST(:arguments AS jsonb), fields_sealed = :fields_sealed, key_version = :key_version
WHERE id = :id AND status = 'pending'
"""
_PENDING = f"SELECT {APPROVALS.columns} FROM approvals WHERE id = :id AND status = 'pending' FOR UPDATE"
_READ = "SELECT status, requested_at, expires_at, decided_at FROM approvals WHERE id = :id"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _audit_arguments(arguments: dict[str, Any]) -> dict[str, Any] | str:
    encoded = json.dumps(arguments, default=str)
    return arguments if len(encoded.encode()) <= _AUDIT_ARGUMENTS_BYTES else "(too large; see the approval row)"


class ApprovalActivities:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    @activity.defn(name=ACT_RECORD_APPROVAL)
    async def record(self, inp: ApprovalRecordInput) -> None:
        if inp.status == ApprovalStatus.PENDING:
            await self._requested(inp)
        else:
            await self._resolved(inp)

    async def _requested(self, inp: ApprovalRecordInput) -> None:
        async with self._db.tenant_session(inp.tenant_id) as session:
            await run_sql(
                session,
                _INSERT,
                {
                    "id": inp.approval_id,
                    "tid": inp.tenant_id,
                    "cid": inp.conversation_id,
                    "mid": inp.message_id,
                    "call_id": inp.call_id,
                    "tool": inp.tool,
                    "secs": max(0.0, inp.timeout_seconds),
                    **await seal_fields(
                        session,
                        inp.tenant_id,
                        APPROVALS,
                        inp.approval_id,
                        {"arguments": json.loads(json.dumps(inp.arguments, default=str)), "note": ""},
                    ),
                },
            )
            row = (await run_sql(session, _READ, {"id": inp.approval_id})).one()
            await record_event_once(
                session,
                idempotency_key=f"approval:{inp.approval_id}:requested",
                tenant_id=inp.tenant_id,
                actor=WORKFLOW_ACTOR,
                action="approval.requested",
                target=inp.approval_id,
                details={
                    "conversation_id": inp.conversation_id,
                    "message_id": inp.message_id,
                    "call_id": inp.call_id,
                    "tool": inp.tool,
                    "expires_at": _iso(row.expires_at),
                },
                private={"arguments": _audit_arguments(inp.arguments)},
            )
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.APPROVAL_REQUESTED,
            {
                "approval_id": inp.approval_id,
                "message_id": inp.message_id,
                "call_id": inp.call_id,
                "tool": inp.tool,
                "arguments": inp.arguments,
                "expires_at": _iso(row.expires_at),
            },
            dedup_key=f"approval:{inp.approval_id}:requested",
        )

    async def _resolved(self, inp: ApprovalRecordInput) -> None:
        async with self._db.tenant_session(inp.tenant_id) as session:
            pending = (await run_sql(session, _PENDING, {"id": inp.approval_id})).first()
            if pending is not None:
                # The note joins the sealed arguments: staff may quote the customer in it.
                fields = {**await open_fields(session, APPROVALS, pending), "note": inp.note}
                await run_sql(
                    session,
                    _RESOLVE,
                    {
                        "id": inp.approval_id,
                        "status": inp.status.value,
                        "decided_by": inp.decided_by,
                        **await seal_fields(session, inp.tenant_id, APPROVALS, inp.approval_id, fields),
                    },
                )
            else:
                row = (await run_sql(session, _READ, {"id": inp.approval_id})).first()
                if row is None or row.status != inp.status.value:
                    # Nothing to resolve, or resolved otherwise: the workflow's decision stands in its history.
                    log.warning(
                        "approval not pending",
                        approval_id=inp.approval_id,
                        stored=row.status if row is not None else None,
                        wanted=inp.status.value,
                    )
            await record_event_once(
                session,
                idempotency_key=f"approval:{inp.approval_id}:resolved",
                tenant_id=inp.tenant_id,
                actor=inp.decided_by or WORKFLOW_ACTOR,
                action=f"approval.{inp.status.value}",
                target=inp.approval_id,
                details={
                    "conversation_id": inp.conversation_id,
                    "message_id": inp.message_id,
                    "call_id": inp.call_id,
                    "tool": inp.tool,
                },
                private={"note": inp.note},
            )
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.APPROVAL_RESOLVED,
            {
                "approval_id": inp.approval_id,
                "message_id": inp.message_id,
                "call_id": inp.call_id,
                "tool": inp.tool,
                "status": inp.status.value,
            },
            dedup_key=f"approval:{inp.approval_id}:resolved",
        )
