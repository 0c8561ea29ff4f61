"""Creating tenants and issuing their API keys."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import Database
from db.ids import new_id
from tenancy.api_keys import ApiKey, store_new_key
from tenancy.audit import record_event
from tenancy.permissions import PLATFORM_ROLES, TENANT_ROLES
from tenancy.plans import PLANS

MAX_NAME_CHARS = 200
MAX_SLUG_CHARS = 48
MAX_SUBJECT_CHARS = 255
_SLUG_ATTEMPTS = 5
_SET_TENANT = text("SELECT set_config('app.tenant_id', :tid, true)")
_INSERT_TENANT = text("INSERT INTO tenants (id, name, slug, plan) VALUES (:id, :name, :slug, :plan)")


@dataclass(frozen=True)
class CreatedTenant:
    tenant_id: str
    # The full key, shown once: only its hash is stored.
    api_key: str


def validate_name(name: str) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(cleaned) <= MAX_NAME_CHARS:
        raise ValueError(f"tenant name must be 1 to {MAX_NAME_CHARS} characters")
    if not cleaned.isprintable():
        raise ValueError("tenant name must not contain control characters")
    return cleaned


def validate_plan(plan: str) -> str:
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}")
    return plan


def slugify(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:MAX_SLUG_CHARS].strip("-")
    return slug or "tenant"


async def _free_slug(session: AsyncSession, base: str) -> str:
    conn = await session.connection()
    taken = set(
        (
            await conn.execute(
                text("SELECT slug FROM tenants WHERE slug = :base OR slug LIKE :pattern"),
                {"base": base, "pattern": f"{base}-%"},
            )
        ).scalars()
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def add_api_key(
    session: AsyncSession,
    *,
    tenant_id: str,
    name: str,
    pepper: str,
    scopes: Sequence[str] = (),
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key for `tenant_id` in the session's transaction; returns the row and the full key."""
    return await store_new_key(
        session, tenant_id=tenant_id, name=name, pepper=pepper, scopes=scopes, expires_at=expires_at
    )


async def create_tenant(admin_url: str, *, name: str, plan: str = "free", pepper: str) -> CreatedTenant:
    """Create a tenant and its first API key in one transaction, as the admin role."""
    name = validate_name(name)
    plan = validate_plan(plan)
    if not pepper:
        raise ValueError("an API key pepper is required")
    base = slugify(name)
    db = Database(admin_url, pool_size=1)
    try:
        for attempt in range(_SLUG_ATTEMPTS):
            tenant_id = new_id()
            try:
                async with db.admin_session() as session:
                    # Under FORCE ROW LEVEL SECURITY an owner that is not a superuser is bound by the
                    # policies too; binding the transaction to the new tenant lets its rows pass the check.
                    await (await session.connection()).execute(_SET_TENANT, {"tid": tenant_id})
                    # A concurrent creation may take the same slug; a random suffix settles the retry.
                    slug = await _free_slug(session, base) if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
                    await (await session.connection()).execute(
                        _INSERT_TENANT, {"id": tenant_id, "name": name, "slug": slug, "plan": plan}
                    )
                    _row, full_key = await add_api_key(session, tenant_id=tenant_id, name="default", pepper=pepper)
                return CreatedTenant(tenant_id=tenant_id, api_key=full_key)
            except IntegrityError as exc:
                if "uq_tenants_slug" not in str(exc.orig):
                    raise
        raise RuntimeError(f"could not find a free slug for {name!r}")
    finally:
        await db.close()


async def ensure_user(
    session: AsyncSession, *, subject: str, email: str | None = None, display_name: str | None = None
) -> str:
    """The id of the user with this identity-provider subject, created if new. Users are platform-level and
    the app role cannot see them: it goes through the `identity_ensure_user` definer function (migration 0034),
    which does this and nothing else."""
    if not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise ValueError(f"subject must be 1 to {MAX_SUBJECT_CHARS} characters")
    conn = await session.connection()
    found = await conn.scalar(
        text("SELECT identity_ensure_user(:subject, :email, :name)"),
        {"subject": subject, "email": email, "name": display_name},
    )
    return str(found)


async def set_member_role(session: AsyncSession, *, tenant_id: str, user_id: str, role: str, actor: str) -> bool:
    """Make `user_id` a member of `tenant_id` with `role`, in a session bound to that tenant.

    Audited as `member.added` or `member.role_changed`; returns False when nothing changed. Gateways cache
    principals whose roles came from a membership, so callers publish a tenant invalidation after commit.
    """
    if role not in TENANT_ROLES:
        raise ValueError(f"role must be one of {', '.join(TENANT_ROLES)}")
    conn = await session.connection()
    before = await conn.scalar(
        text("SELECT role FROM memberships WHERE tenant_id = :t AND user_id = :u FOR UPDATE"),
        {"t": tenant_id, "u": user_id},
    )
    if before == role:
        return False
    await conn.execute(
        text(
            "INSERT INTO memberships (tenant_id, user_id, role) VALUES (:t, :u, :role) "
            "ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = EXCLUDED.role, updated_at = now()"
        ),
        {"t": tenant_id, "u": user_id, "role": role},
    )
    action = "member.added" if before is None else "member.role_changed"
    details = {"role": role} if before is None else {"from": before, "to": role}
    await record_event(session, tenant_id=tenant_id, actor=actor, action=action, target=user_id, details=details)
    return True


async def remove_member(session: AsyncSession, *, tenant_id: str, user_id: str, actor: str) -> bool:
    conn = await session.connection()
    removed = await conn.scalar(
        text("DELETE FROM memberships WHERE tenant_id = :t AND user_id = :u RETURNING role"),
        {"t": tenant_id, "u": user_id},
    )
    if removed is None:
        return False
    await record_event(
        session, tenant_id=tenant_id, actor=actor, action="member.removed", target=user_id, details={"role": removed}
    )
    return True


async def set_platform_role(session: AsyncSession, *, subject: str, role: str | None) -> None:
    """Grant (or with None, take away) a platform role. Admin role only: the table is platform-level."""
    if role is not None and role not in PLATFORM_ROLES:
        raise ValueError(f"role must be one of {', '.join(PLATFORM_ROLES)}")
    conn = await session.connection()
    if role is None:
        await conn.execute(text("DELETE FROM platform_admins WHERE subject = :s"), {"s": subject})
        return
    await conn.execute(
        text(
            "INSERT INTO platform_admins (subject, role) VALUES (:s, :role) "
            "ON CONFLICT (subject) DO UPDATE SET role = EXCLUDED.role"
        ),
        {"s": subject, "role": role},
    )
