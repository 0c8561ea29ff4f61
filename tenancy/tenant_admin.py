"""Tenant administration: create, read, list and update tenants, and move them through their lifecycle.

`tenants` is read-only for the app role; every write goes through migration 0004's security-definer
functions, which refuse any tenant but the one the transaction is bound to. So each function here binds its
transaction to the tenant it changes and records the change in that tenant's audit chain in the same
transaction. Status changes then tell every gateway to drop the tenant's cached principals, after the
commit: before it, a replica could read the old status again and cache it anew.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import Database, run_sql
from db.ids import new_id
from tenancy.api_keys import issue_key
from tenancy.audit import record_event
from tenancy.auth_cache import publish_invalidation
from tenancy.lifecycle import TenantRecord, TenantStatus, may_transition, validate_region
from tenancy.permissions import TenantRole
from tenancy.tenants import slugify, validate_name, validate_plan

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

MAX_PAGE = 200
_CAS_ATTEMPTS = 3
_STATUS_ACTIONS = {
    TenantStatus.ACTIVE: "tenant.resumed",
    TenantStatus.SUSPENDED: "tenant.suspended",
    TenantStatus.OFFBOARDING: "tenant.offboarding_started",
}


class TenantAdminError(Exception):
    """A tenant operation that cannot be done as asked."""


class TenantNotFound(TenantAdminError):
    def __init__(self, tenant_id: str) -> None:
        super().__init__("no such tenant")
        self.tenant_id = tenant_id


class TransitionRefused(TenantAdminError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a tenant that is {current} cannot become {target}")
        self.current = current
        self.target = target


@dataclass(frozen=True)
class CreatedTenant:
    record: TenantRecord
    # The owner's first key, shown once: only its hash is stored.
    api_key: str


@dataclass(frozen=True)
class TenantPage:
    items: list[TenantRecord]
    next_cursor: str | None


async def bind(session: AsyncSession, tenant_id: str) -> None:
    """Rebind the session's transaction to `tenant_id` (transaction-local, like `tenant_session`)."""
    await run_sql(session, "SELECT set_config('app.tenant_id', :tid, true)", {"tid": tenant_id})


def _record(row: Any) -> TenantRecord:
    return TenantRecord(**dict(row._mapping))


async def read_tenant(session: AsyncSession, tenant_id: str) -> TenantRecord:
    """The tenant the session is bound to; another tenant's row is invisible, so it reads as missing."""
    row = (
        await run_sql(
            session,
            "SELECT id, name, slug, plan, status, data_region, created_at, offboarding_started_at, purge_after"
            " FROM tenants WHERE id = :id",
            {"id": tenant_id},
        )
    ).first()
    if row is None:
        raise TenantNotFound(tenant_id)
    return _record(row)


async def get_tenant(db: Database, tenant_id: str) -> TenantRecord:
    async with db.control_session(tenant_id) as session:
        return await read_tenant(session, tenant_id)


async def create_tenant(
    db: Database,
    *,
    name: str,
    plan: str,
    data_region: str,
    pepper: str,
    actor: str,
    tenant_id: str | None = None,
    slug: str | None = None,
) -> CreatedTenant:
    """A new active tenant with an owner key, in one transaction; raises ValueError on bad input.

    A caller that must not create two tenants on a retry (the signup run) chooses the id itself, and a slug
    that no other tenant of the same name can hold."""
    name, plan, data_region = validate_name(name), validate_plan(plan), validate_region(data_region)
    if not db.serves(data_region):
        raise ValueError(f"data_region {data_region} has no database in this deployment")
    tenant_id = tenant_id or new_id()
    async with db.control_session(tenant_id) as session:
        await run_sql(
            session,
            "SELECT lifecycle_create_tenant(:id, :name, :slug, :plan, :region)",
            {"id": tenant_id, "name": name, "slug": slug or slugify(name), "plan": plan, "region": data_region},
        )
        issued = await issue_key(
            session, tenant_id=tenant_id, name="default", role=TenantRole.OWNER, pepper=pepper, actor=actor
        )
        await _audit(
            session, tenant_id, actor, "tenant.created", {"name": name, "plan": plan, "data_region": data_region}
        )
        record = await read_tenant(session, tenant_id)
    await db.register_tenant(tenant_id)
    return CreatedTenant(record=record, api_key=issued.key)


def _encode_cursor(record: TenantRecord) -> str:
    raw = json.dumps([record.created_at.isoformat(), record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, tenant_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), str(tenant_id)
    except (ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc


async def list_tenants(
    db: Database, *, status: str | None = None, cursor: str | None = None, limit: int = 50
) -> TenantPage:
    """Every tenant, oldest first; raises ValueError on a cursor this function did not hand out."""
    after_created, after_id = _decode_cursor(cursor) if cursor else (None, None)
    limit = max(1, min(limit, MAX_PAGE))
    # No tenant binding: the definer function reads across tenants, which only the platform may ask for.
    async with db.admin_session() as session:
        rows = await run_sql(
            session,
            "SELECT * FROM lifecycle_list_tenants(:status, :after_created, :after_id, :limit)",
            {"status": status, "after_created": after_created, "after_id": after_id, "limit": limit + 1},
        )
        items = [_record(row) for row in rows]
    more = len(items) > limit
    items = items[:limit]
    return TenantPage(items=items, next_cursor=_encode_cursor(items[-1]) if more else None)


async def update_tenant(
    db: Database, tenant_id: str, *, actor: str, name: str | None = None, plan: str | None = None
) -> TenantRecord:
    name = validate_name(name) if name is not None else None
    plan = validate_plan(plan) if plan is not None else None
    async with db.control_session(tenant_id) as session:
        before = await read_tenant(session, tenant_id)
        changes = {k: v for k, v in (("name", name), ("plan", plan)) if v is not None and v != getattr(before, k)}
        if not changes:
            return before
        await run_sql(
            session,
            "SELECT lifecycle_update_tenant(:id, :name, :plan)",
            {"id": tenant_id, "name": changes.get("name"), "plan": changes.get("plan")},
        )
        details = {field: {"from": getattr(before, field), "to": value} for field, value in changes.items()}
        await _audit(session, tenant_id, actor, "tenant.updated", details)
        after = await read_tenant(session, tenant_id)
    await db.register_tenant(tenant_id)
    return after


async def _audit(session: AsyncSession, tenant_id: str, actor: str, action: str, details: dict[str, Any]) -> None:
    await record_event(session, tenant_id=tenant_id, actor=actor, action=action, target=tenant_id, details=details)


async def _transition(
    session: AsyncSession,
    tenant_id: str,
    target: TenantStatus,
    *,
    actor: str,
    reason: str | None,
    retention: timedelta | None,
) -> tuple[TenantRecord, bool] | None:
    """The tenant after, and whether this call moved it; None when another writer moved it first."""
    before = await read_tenant(session, tenant_id)
    if before.status == target:
        return before, False
    if not may_transition(before.status, target):
        raise TransitionRefused(before.status, target)
    purge_after = (
        datetime.now(UTC) + retention if target == TenantStatus.OFFBOARDING and retention is not None else None
    )
    changed = (
        await run_sql(
            session,
            "SELECT lifecycle_set_status(:id, :from, :to, :purge_after)",
            {"id": tenant_id, "from": before.status, "to": target.value, "purge_after": purge_after},
        )
    ).scalar()
    if not changed:
        return None
    details: dict[str, Any] = {"from": before.status, "to": target.value}
    if reason:
        details["reason"] = reason
    if purge_after is not None:
        details["purge_after"] = purge_after.isoformat()
    await _audit(session, tenant_id, actor, _STATUS_ACTIONS[target], details)
    return await read_tenant(session, tenant_id), True


async def change_status(
    db: Database,
    redis: Redis,
    tenant_id: str,
    target: TenantStatus,
    *,
    actor: str,
    reason: str | None = None,
    retention: timedelta | None = None,
) -> TenantRecord:
    """Move the tenant to `target`; already there is no change. Offboarding needs the retention period."""
    if target == TenantStatus.OFFBOARDING and retention is None:
        raise ValueError("offboarding needs a retention period")
    for _ in range(_CAS_ATTEMPTS):
        async with db.control_session(tenant_id) as session:
            outcome = await _transition(session, tenant_id, target, actor=actor, reason=reason, retention=retention)
        if outcome is None:
            continue  # another admin moved it meanwhile: decide again on what it is now
        after, changed = outcome
        await db.register_tenant(tenant_id)
        # Also for a tenant that was there already: cheap, and it repairs an earlier call that committed but
        # failed to publish (the activity that marks offboarding is retried exactly then).
        if changed or after.status != TenantStatus.ACTIVE:
            await _invalidate(redis, tenant_id)
        return after
    raise TenantAdminError("the tenant kept changing; try again")


async def _invalidate(redis: Redis, tenant_id: str) -> None:
    try:
        await publish_invalidation(redis, tenant_id=tenant_id)
    except Exception:
        # Committed all the same: authentication reads the status on every cache miss, so other replicas
        # notice within their cache lifetime instead of at once.
        log.warning("could not publish an auth cache invalidation", extra={"tenant_id": tenant_id}, exc_info=True)
