"""Issuing, listing, revoking and rotating a tenant's API keys, inside the caller's tenant session.

Every change is written to the audit log in the same transaction, so a key never exists (or stops
existing) without its record. Callers publish a cache invalidation after the commit (`tenancy.auth_cache`):
before it, other replicas could re-read the old state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from db.ids import new_id
from tenancy.audit import record_event
from tenancy.keys import generate_api_key, hash_secret
from tenancy.permissions import TENANT_ROLES, parse_scopes

MAX_NAME_CHARS = 100
MAX_OVERLAP_SECONDS = 7 * 24 * 3600
# Everything but the secret's hash: once stored, nothing outside the auth lookup has a use for it.
_COLUMNS = "id, tenant_id, name, prefix, scopes, role, created_at, expires_at, revoked_at, last_used_at, rotated_from"
_INSERT = (
    "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, expires_at, role, rotated_from) "  # noqa: S608
    "VALUES (:id, :tid, :name, :prefix, :hash, CAST(:scopes AS jsonb), :expires_at, :role, :rotated_from) "
    f"RETURNING {_COLUMNS}"
)


class KeyNotActive(Exception):
    """The key is revoked, expired, or already replaced by a rotation."""


@dataclass(frozen=True)
class ApiKey:
    """One `api_keys` row as its tenant may see it."""

    id: str
    tenant_id: str
    name: str
    prefix: str
    scopes: list[str]
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    # The key this one replaced; the old key's `expires_at` marks the end of their overlap.
    rotated_from: str | None

    @classmethod
    def of(cls, row: Any) -> ApiKey:
        return cls(**{**row._asdict(), "scopes": [str(scope) for scope in row.scopes]})


@dataclass(frozen=True)
class IssuedKey:
    row: ApiKey
    # The full key, shown once: only its hash is stored.
    key: str


def _describe(row: ApiKey) -> dict[str, Any]:
    expires = row.expires_at.isoformat() if row.expires_at is not None else None
    return {"name": row.name, "role": row.role, "scopes": list(row.scopes), "expires_at": expires}


def is_active(row: ApiKey, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return row.revoked_at is None and (row.expires_at is None or row.expires_at > now)


async def store_new_key(
    session: AsyncSession,
    *,
    tenant_id: str,
    name: str,
    pepper: str,
    scopes: Sequence[str] = (),
    expires_at: datetime | None = None,
    role: str = "owner",
    rotated_from: str | None = None,
) -> tuple[ApiKey, str]:
    """Generate a key, store only its hash in the session's transaction; returns the row and the full key,
    which exists nowhere else afterwards."""
    generated = generate_api_key()
    result = await run_sql(
        session,
        _INSERT,
        {
            "id": new_id(),
            "tid": tenant_id,
            "name": name,
            "prefix": generated.prefix,
            "hash": hash_secret(generated.secret, pepper),
            "scopes": json.dumps(list(scopes)),
            "expires_at": expires_at,
            "role": role,
            "rotated_from": rotated_from,
        },
    )
    return ApiKey.of(result.one()), generated.full


async def issue_key(
    session: AsyncSession,
    *,
    tenant_id: str,
    name: str,
    role: str,
    pepper: str,
    actor: str,
    scopes: Sequence[str] = (),
    expires_at: datetime | None = None,
    rotated_from: str | None = None,
) -> IssuedKey:
    if role not in TENANT_ROLES:
        raise ValueError(f"role must be one of {', '.join(TENANT_ROLES)}")
    parse_scopes(scopes)
    row, full_key = await store_new_key(
        session,
        tenant_id=tenant_id,
        name=name,
        pepper=pepper,
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        role=role,
        rotated_from=rotated_from,
    )
    if rotated_from is None:
        await record_event(
            session, tenant_id=tenant_id, actor=actor, action="api_key.created", target=row.id, details=_describe(row)
        )
    return IssuedKey(row=row, key=full_key)


async def list_keys(session: AsyncSession, *, include_inactive: bool = False) -> list[ApiKey]:
    result = await run_sql(session, f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id")  # noqa: S608
    rows = [ApiKey.of(row) for row in result]
    if include_inactive:
        return rows
    now = datetime.now(UTC)
    return [row for row in rows if is_active(row, now)]


async def find_key(session: AsyncSession, key_id: str, *, for_update: bool = False) -> ApiKey | None:
    """The tenant's key with this id, or None; another tenant's key is invisible here (row-level security)."""
    lock = " FOR UPDATE" if for_update else ""
    query = f"SELECT {_COLUMNS} FROM api_keys WHERE id = :id{lock}"  # noqa: S608
    row = (await run_sql(session, query, {"id": key_id})).first()
    return None if row is None else ApiKey.of(row)


async def revoke_key(session: AsyncSession, row: ApiKey, *, actor: str) -> bool:
    """Revoke `row` (found with `for_update`); False when it already was."""
    revoked_at = (
        await run_sql(
            session,
            "UPDATE api_keys SET revoked_at = now() WHERE id = :id AND revoked_at IS NULL RETURNING revoked_at",
            {"id": row.id},
        )
    ).scalar()
    if revoked_at is None:
        return False
    await record_event(
        session, tenant_id=row.tenant_id, actor=actor, action="api_key.revoked", target=row.id, details=_describe(row)
    )
    return True


async def rotate_key(
    session: AsyncSession,
    row: ApiKey,
    *,
    overlap_seconds: int,
    pepper: str,
    actor: str,
    expires_at: datetime | None = None,
) -> IssuedKey:
    """Issue `row`'s successor and let `row` expire after `overlap_seconds`.

    The successor keeps the name, role and scopes; it expires at `expires_at`, by default when `row` would
    have, so rotating never extends a key's life. The overlap gives deployments time to switch keys.
    """
    if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        raise ValueError(f"overlap_seconds must be between 0 and {MAX_OVERLAP_SECONDS}")
    now = datetime.now(UTC)
    if not is_active(row, now):
        raise KeyNotActive("the key is revoked or expired")
    successor = await run_sql(
        session,
        "SELECT id FROM api_keys WHERE rotated_from = :id AND revoked_at IS NULL",
        {"id": row.id},
    )
    if successor.first() is not None:
        raise KeyNotActive("the key was already rotated")
    original_expiry = row.expires_at
    overlap_end = now + timedelta(seconds=overlap_seconds)
    old_expiry = overlap_end if original_expiry is None else min(original_expiry, overlap_end)
    await run_sql(session, "UPDATE api_keys SET expires_at = :at WHERE id = :id", {"at": old_expiry, "id": row.id})
    issued = await issue_key(
        session,
        tenant_id=row.tenant_id,
        name=row.name,
        role=row.role,
        pepper=pepper,
        actor=actor,
        scopes=row.scopes,
        expires_at=expires_at if expires_at is not None else original_expiry,
        rotated_from=row.id,
    )
    details = {**_describe(issued.row), "old_key_expires_at": old_expiry.isoformat()}
    await record_event(
        session,
        tenant_id=row.tenant_id,
        actor=actor,
        action="api_key.rotated",
        target=row.id,
        details={**details, "new_key_id": issued.row.id},
    )
    return issued
