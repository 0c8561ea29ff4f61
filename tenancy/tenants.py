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

from tenancy.db import Database
from tenancy.keys import generate_api_key, hash_secret
from tenancy.models import PLANS, ApiKey, Tenant, new_id

MAX_NAME_CHARS = 200
MAX_SLUG_CHARS = 48
_SLUG_ATTEMPTS = 5
_SET_TENANT = text("SELECT set_config('app.tenant_id', :tid, true)")


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
    generated = generate_api_key()
    row = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=generated.prefix,
        secret_hash=hash_secret(generated.secret, pepper),
        scopes=list(scopes),
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, generated.full


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
                    session.add(Tenant(id=tenant_id, name=name, slug=slug, plan=plan))
                    await session.flush()
                    _row, full_key = await add_api_key(session, tenant_id=tenant_id, name="default", pepper=pepper)
                return CreatedTenant(tenant_id=tenant_id, api_key=full_key)
            except IntegrityError as exc:
                if "uq_tenants_slug" not in str(exc.orig):
                    raise
        raise RuntimeError(f"could not find a free slug for {name!r}")
    finally:
        await db.close()
