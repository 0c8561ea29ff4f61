"""`/v1/conversations/{id}/approvals`: tool calls waiting for a human, and the human's decision.

Reading needs `conversations:read`; deciding needs `approvals:decide` (owners, admins, operators). The
conversation must be the caller's tenant's and the approval one of its own (404 otherwise, as if absent).
The decision goes to the conversation's workflow as the `decide_approval` update, which refuses one that
is already decided, so two people clicking at once produce one decision and one 409. The answer is the
approval as recorded after the decision.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from agents.sealed_records import APPROVALS, open_fields
from api.conversation_runs import decide_approval
from api.deps import ConversationsReadDep, DatabaseDep, TemporalDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from api.routes.conversations import load_conversation
from contracts.agents import ApprovalDecision, ApprovalDecisionKind, ApprovalStatus
from db.database import Database, run_sql
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/conversations", tags=["approvals"])

ApprovalsDecideDep = Annotated[TenantPrincipal, requires(Permission.APPROVALS_DECIDE)]
ConversationId = Annotated[uuid.UUID, Path(description="the conversation's id")]
ApprovalId = Annotated[uuid.UUID, Path(description="the approval's id")]
MAX_NOTE_CHARS = 1000

_SELECT = (
    "SELECT id, tenant_id, conversation_id, message_id, call_id, tool, arguments, status, requested_at, expires_at,"
    " decided_at, decided_by, note, fields_sealed FROM approvals WHERE conversation_id = :cid"
    " AND (CAST(:id AS text) IS NULL OR id = :id) AND (CAST(:status AS text) IS NULL OR status = :status)"
    " AND (CAST(:after_at AS timestamptz) IS NULL"
    " OR (requested_at, id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS text)))"
    " ORDER BY requested_at, id LIMIT :limit"
)


class ApprovalOut(BaseModel):
    id: str
    conversation_id: str
    message_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any]
    status: ApprovalStatus
    requested_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None
    decided_by: str
    note: str


class ApprovalDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: ApprovalDecisionKind
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)

    @field_validator("note")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in value):
            raise ValueError("the note may not contain control characters")
        return value


async def _out(session: AsyncSession, row: Any) -> ApprovalOut:
    opened = await open_fields(session, APPROVALS, row)
    arguments = (
        opened["arguments"] if isinstance(opened["arguments"], dict) else json.loads(opened["arguments"] or "{}")
    )
    fields = {key: value for key, value in row._mapping.items() if key not in ("tenant_id", "fields_sealed")}
    return ApprovalOut(**{**fields, "arguments": arguments, "note": opened["note"]})


async def _approvals(
    db: Database,
    tenant_id: str,
    conversation_id: str,
    *,
    approval_id: str | None = None,
    status: str | None = None,
    after: tuple[Any, ...] | None = None,
    limit: int = 1,
) -> list[ApprovalOut]:
    params = {
        "cid": conversation_id,
        "id": approval_id,
        "status": status,
        "after_at": after[0] if after else None,
        "after_id": after[1] if after else None,
        "limit": limit,
    }
    async with db.tenant_session(tenant_id) as session:
        rows = (await run_sql(session, _SELECT, params)).all()
        return [await _out(session, row) for row in rows]


@router.get("/{conversation_id}/approvals", response_model=Page[ApprovalOut])
async def list_approvals(
    conversation_id: ConversationId,
    principal: ConversationsReadDep,
    db: DatabaseDep,
    page: PageDep,
    status: Annotated[ApprovalStatus | None, Query(description="only approvals in this status")] = None,
) -> Page[ApprovalOut]:
    """The conversation's approvals, oldest request first."""
    conversation = await load_conversation(db, principal.tenant_id, str(conversation_id))
    wanted = status.value if status else None
    scope = page.scope("approvals", principal.tenant_id, conversation=conversation.id, status=wanted)
    found = await _approvals(
        db,
        principal.tenant_id,
        conversation.id,
        status=wanted,
        after=page.after(scope, datetime, str),
        limit=page.limit + 1,
    )
    return page.of(found, scope, key=lambda a: (a.requested_at, a.id))


@router.post("/{conversation_id}/approvals/{approval_id}", response_model=ApprovalOut)
async def decide(
    conversation_id: ConversationId,
    approval_id: ApprovalId,
    body: ApprovalDecisionIn,
    principal: ApprovalsDecideDep,
    db: DatabaseDep,
    temporal: TemporalDep,
) -> ApprovalOut:
    conversation = await load_conversation(db, principal.tenant_id, str(conversation_id))
    found = await _approvals(db, principal.tenant_id, conversation.id, approval_id=str(approval_id))
    if not found:
        raise ApiError(404, "approval_not_found", "no such approval in this conversation")
    if found[0].status != ApprovalStatus.PENDING:
        raise _already_decided(found[0].status)
    decision = ApprovalDecision(
        approval_id=str(approval_id),
        decision=body.decision,
        note=body.note,
        decided_by=(principal.subject or f"apikey:{principal.key_id}")[:200],
    )
    try:
        await decide_approval(temporal, principal.tenant_id, conversation.id, decision)
    except WorkflowUpdateFailedError as exc:
        error_type = getattr(exc.cause, "type", None) or ""
        if error_type == "ApprovalAlreadyDecided":
            raise _already_decided(None) from exc
        raise _not_waiting() from exc
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise _not_waiting() from exc
        raise ApiError(503, "engine_unavailable", "the workflow engine did not answer; retry shortly") from exc
    resolved = await _approvals(db, principal.tenant_id, conversation.id, approval_id=str(approval_id))
    return resolved[0]


def _already_decided(status: ApprovalStatus | None) -> ApiError:
    details = {"status": status.value} if status is not None else None
    return ApiError(409, "approval_already_decided", "this approval has already been decided", details)


def _not_waiting() -> ApiError:
    # Recorded as pending, but no run waits on it (its turn was interrupted a moment ago, or the run is gone).
    return ApiError(409, "approval_not_pending", "no turn is waiting for this approval any more")
