"""`/v1/tenant`: the caller's own tenant and its members.

The tenant is always the caller's: there is no id in the path, so no other tenant can be named. Members of
another tenant are invisible under row-level security and answer 404 like ones that do not exist. Nobody
hands out or takes away more than they hold (an admin can neither make nor unmake an owner), and the last
owner stays an owner, so a tenant never locks itself out.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import StateDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from api.state import GatewayState
from db.database import run_sql
from tenancy.auth_cache import publish_invalidation
from tenancy.lifecycle import TenantRecord
from tenancy.permissions import Permission, TenantRole, may_grant
from tenancy.principal import TenantPrincipal
from tenancy.tenant_admin import TenantNotFound, get_tenant, update_tenant
from tenancy.tenants import MAX_NAME_CHARS, remove_member, set_member_role

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/tenant", tags=["tenant"])

TenantReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
TenantWriter = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]
MembersManager = Annotated[TenantPrincipal, requires(Permission.MEMBERS_MANAGE)]
UserId = Annotated[uuid.UUID, Path(description="the member's user id")]


class TenantOut(BaseModel):
    id: str
    name: str
    slug: str
    plan: str
    status: str
    data_region: str
    created_at: datetime
    offboarding_started_at: datetime | None = None
    purge_after: datetime | None = None

    @classmethod
    def of(cls, record: TenantRecord) -> TenantOut:
        return cls.model_validate(record, from_attributes=True)


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)
    # Accepted only to refuse it clearly: the plan is the platform's to change.
    plan: str | None = Field(default=None, description="not changeable here; the platform changes plans")


class MemberOut(BaseModel):
    user_id: str
    role: str
    created_at: datetime
    updated_at: datetime
    email: str | None = Field(default=None, description="as the member's identity provider last gave it")
    display_name: str | None = None


class MemberRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: TenantRole


def _tenant_gone() -> ApiError:
    # Authentication passed a moment ago, so the tenant was purged in between: as good as never there.
    return ApiError(404, "tenant_not_found", "no such tenant")


@router.get("", response_model=TenantOut)
async def read_own_tenant(principal: TenantReader, state: StateDep) -> TenantOut:
    try:
        return TenantOut.of(await get_tenant(state.db, principal.tenant_id))
    except TenantNotFound:
        raise _tenant_gone() from None


@router.patch("", response_model=TenantOut)
async def update_own_tenant(body: TenantUpdate, principal: TenantWriter, state: StateDep) -> TenantOut:
    if body.plan is not None:
        raise ApiError(403, "plan_change_forbidden", "plans are changed by the platform, not by the tenant")
    try:
        record = await update_tenant(state.db, principal.tenant_id, actor=principal.subject, name=body.name)
    except TenantNotFound:
        raise _tenant_gone() from None
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    return TenantOut.of(record)


@router.get("/members", response_model=Page[MemberOut])
async def list_members(principal: MembersManager, state: StateDep, page: PageDep) -> Page[MemberOut]:
    """The tenant's members, longest-standing first."""
    scope = page.scope("members", principal.tenant_id)
    after = page.after(scope, datetime, str)
    async with state.db.control_session(principal.tenant_id) as session:
        rows = await run_sql(
            session,
            "SELECT m.user_id, m.role, m.created_at, m.updated_at, p.email, p.display_name FROM memberships AS m"
            " LEFT JOIN identity_member_profiles() AS p ON p.user_id = m.user_id"
            " WHERE CAST(:after_at AS timestamptz) IS NULL"
            " OR (m.created_at, m.user_id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS text))"
            " ORDER BY m.created_at, m.user_id LIMIT :limit",
            {"after_at": after[0] if after else None, "after_id": after[1] if after else None, "limit": page.limit + 1},
        )
        members = [MemberOut(**row._mapping) for row in rows]
    return page.of(members, scope, key=lambda m: (m.created_at, m.user_id))


async def _lock_member(session: AsyncSession, principal: TenantPrincipal, user_id: str) -> tuple[str, int]:
    """The member's role and the tenant's owner count, locked so two changes cannot both remove an owner."""
    rows = (
        await run_sql(
            session,
            "SELECT user_id, role FROM memberships WHERE role = 'owner' OR user_id = :u ORDER BY user_id FOR UPDATE",
            {"u": user_id},
        )
    ).all()
    role = next((row.role for row in rows if row.user_id == user_id), None)
    if role is None:
        raise ApiError(404, "member_not_found", "no such member")
    if not may_grant(principal.permissions, role):
        raise ApiError(403, "forbidden", "the member holds more than your own credentials grant")
    return role, sum(1 for row in rows if row.role == TenantRole.OWNER)


def _keep_an_owner(current: str, new: str | None, owners: int) -> None:
    if current == TenantRole.OWNER and new != TenantRole.OWNER and owners <= 1:
        raise ApiError(409, "last_owner", "the tenant's last owner cannot be demoted or removed")


async def _invalidate(state: GatewayState, tenant_id: str) -> None:
    # Cached principals carry roles; dropping the tenant's makes a demotion count on the next request.
    state.authenticator.forget(tenant_id=tenant_id)
    try:
        await publish_invalidation(state.redis, tenant_id=tenant_id)
    except Exception:
        log.warning("could not publish an auth cache invalidation", exc_info=True)


@router.put("/members/{user_id}", response_model=MemberOut)
async def set_role(user_id: UserId, body: MemberRole, principal: MembersManager, state: StateDep) -> MemberOut:
    if not may_grant(principal.permissions, body.role.value):
        raise ApiError(403, "forbidden", "the role grants more than your own credentials")
    member = str(user_id)
    async with state.db.control_session(principal.tenant_id) as session:
        current, owners = await _lock_member(session, principal, member)
        _keep_an_owner(current, body.role, owners)
        await set_member_role(
            session, tenant_id=principal.tenant_id, user_id=member, role=body.role.value, actor=principal.subject
        )
        row = (
            await run_sql(
                session,
                "SELECT user_id, role, created_at, updated_at FROM memberships WHERE user_id = :u",
                {"u": member},
            )
        ).one()
    if current != body.role:
        await _invalidate(state, principal.tenant_id)
    return MemberOut(**row._mapping)


@router.delete("/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_member(user_id: UserId, principal: MembersManager, state: StateDep) -> Response:
    member = str(user_id)
    async with state.db.control_session(principal.tenant_id) as session:
        current, owners = await _lock_member(session, principal, member)
        _keep_an_owner(current, None, owners)
        await remove_member(session, tenant_id=principal.tenant_id, user_id=member, actor=principal.subject)
    await _invalidate(state, principal.tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
