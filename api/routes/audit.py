"""`/v1/audit`: the caller's tenant's audit log, newest first, and a check that its hash chain is intact.

Only the caller's own chain is ever read (the session is bound to the caller's tenant), so there is no way
to name another tenant's. Pages continue with the `next_cursor` of the one before (`api.pagination`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from api.deps import StateDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from tenancy.audit import list_events, verify_chain
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/audit", tags=["audit"])

AuditReader = Annotated[TenantPrincipal, requires(Permission.AUDIT_READ)]


class AuditEventOut(BaseModel):
    id: int
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class ChainVerification(BaseModel):
    ok: bool
    checked: int
    first_bad_id: int | None


@router.get("", response_model=Page[AuditEventOut])
async def read_audit_log(
    principal: AuditReader,
    state: StateDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")] = None,
    since: Annotated[AwareDatetime | None, Query(alias="from", description="inclusive")] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to", description="exclusive")] = None,
) -> Page[AuditEventOut]:
    """The tenant's audit events, newest first."""
    if since is not None and until is not None and since >= until:
        raise ApiError(422, "invalid_range", "`from` must lie before `to`")
    scope = page.scope("audit", principal.tenant_id, action=action, since=since, until=until)
    after = page.after(scope, int)
    async with state.db.tenant_session(principal.tenant_id) as session:
        entries = await list_events(
            session,
            principal.tenant_id,
            action=action,
            since=since,
            until=until,
            before_id=after[0] if after else None,
            limit=page.limit + 1,
        )
    events = [AuditEventOut.model_validate(entry, from_attributes=True) for entry in entries]
    return page.of(events, scope, key=lambda e: (e.id,))


@router.get("/verify", response_model=ChainVerification)
async def verify_audit_log(principal: AuditReader, state: StateDep) -> ChainVerification:
    async with state.db.tenant_session(principal.tenant_id) as session:
        result = await verify_chain(session, principal.tenant_id)
    return ChainVerification(ok=result.ok, checked=result.checked, first_bad_id=result.first_bad_id)
