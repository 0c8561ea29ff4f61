"""`/v1/retention`: how long the caller's tenant keeps transcripts, events, tool results and documents.

Each is a number of days (1 to 3650) or `null`, kept until deleted otherwise (the default). `PUT` replaces
the policy whole and is audited; only owners may change it (`tenant:write`). `RetentionWorkflow` enforces it
daily (the `platform:privacy:retention` schedule), deleting what is older in bounded batches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import DatabaseDep, requires
from policies.retention import MAX_DAYS, MIN_DAYS, RetentionPolicy, load_retention, save_retention
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/retention", tags=["privacy"])

RetentionReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
RetentionWriter = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]
Days = Annotated[int | None, Field(default=None, ge=MIN_DAYS, le=MAX_DAYS, strict=True)]


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transcripts_days: Days = None
    events_days: Days = None
    tool_results_days: Days = None
    documents_days: Days = None


class RetentionOut(BaseModel):
    transcripts_days: int | None
    events_days: int | None
    tool_results_days: int | None
    documents_days: int | None
    updated_at: datetime | None


def _out(policy: RetentionPolicy) -> RetentionOut:
    return RetentionOut(
        transcripts_days=policy.transcripts_days,
        events_days=policy.events_days,
        tool_results_days=policy.tool_results_days,
        documents_days=policy.documents_days,
        updated_at=policy.updated_at,
    )


@router.get("", response_model=RetentionOut)
async def read_retention(principal: RetentionReader, db: DatabaseDep) -> RetentionOut:
    async with db.tenant_session(principal.tenant_id) as session:
        return _out(await load_retention(session, principal.tenant_id))


@router.put("", response_model=RetentionOut)
async def replace_retention(body: RetentionIn, principal: RetentionWriter, db: DatabaseDep) -> RetentionOut:
    policy = RetentionPolicy(
        transcripts_days=body.transcripts_days,
        events_days=body.events_days,
        tool_results_days=body.tool_results_days,
        documents_days=body.documents_days,
    )
    async with db.tenant_session(principal.tenant_id) as session:
        saved = await save_retention(session, principal.tenant_id, policy)
        # In the same transaction: the change and its audit record commit together or not at all.
        await record_event(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.subject,
            action="retention.updated",
            target="retention",
            details=body.model_dump(),
        )
    return _out(saved)
