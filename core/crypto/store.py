"""Wrapped data keys in Postgres (`tenant_data_keys`), read and written only through tenant-bound sessions.

Row-level security does the scoping: a session bound to tenant A sees A's key rows and nothing else, and the
platform's keys sit under the reserved scope `_platform`, visible only to a session bound to it.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto.kms import WrappedKey

# The platform's own key scope. Not a UUID, so no tenant can ever be given this id; the table's check
# constraint holds the same rule.
PLATFORM_TENANT = "_platform"
# Creating and rotating serialise per scope, so two processes never both add "the next" version or leave
# two keys active; the unique index on active keys would otherwise turn the race into an error.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('aiaas.data_keys:' || :tid, 0))")
_ACTIVE = text(
    "SELECT version, kek_id, wrapped_key FROM tenant_data_keys WHERE tenant_id = :tid AND retired_at IS NULL"
)
_ONE = text("SELECT version, kek_id, wrapped_key FROM tenant_data_keys WHERE tenant_id = :tid AND version = :version")
_RETIRE = text("UPDATE tenant_data_keys SET retired_at = now() WHERE tenant_id = :tid AND retired_at IS NULL")
_INSERT = text(
    "INSERT INTO tenant_data_keys (tenant_id, version, kek_id, wrapped_key) "
    "SELECT CAST(:tid AS text), COALESCE(MAX(version), 0) + 1, :kek, :wrapped FROM tenant_data_keys "
    "WHERE tenant_id = CAST(:tid AS text) "
    "RETURNING version"
)


def is_tenant_id(value: str) -> bool:
    """A canonical (lowercase, hyphenated) UUID: the only form tenant ids are created in."""
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, TypeError, AttributeError):
        return False


def check_scope(value: str) -> str:
    if value != PLATFORM_TENANT and not is_tenant_id(value):
        raise ValueError("a key scope is a tenant id (UUID) or the platform")
    return value


@dataclass(frozen=True)
class StoredKey:
    tenant_id: str
    version: int
    wrapped: WrappedKey


class KeyStore(Protocol):
    async def active(self, tenant_id: str) -> StoredKey | None: ...

    async def get(self, tenant_id: str, version: int) -> StoredKey | None: ...

    async def add(self, tenant_id: str, wrapped: WrappedKey, *, retire_active: bool) -> StoredKey:
        """Store a new version. Without `retire_active`, an existing active key wins and is returned."""
        ...


class TenantSessions(Protocol):
    """What `db.database.Database` offers; named here so `core` does not depend on `db`."""

    def tenant_session(self, tenant_id: str) -> AbstractAsyncContextManager[AsyncSession]: ...


class PostgresKeyStore:
    def __init__(self, sessions: TenantSessions) -> None:
        self._sessions = sessions

    async def active(self, tenant_id: str) -> StoredKey | None:
        return await self._select(tenant_id, _ACTIVE, {})

    async def get(self, tenant_id: str, version: int) -> StoredKey | None:
        return await self._select(tenant_id, _ONE, {"version": version})

    async def add(self, tenant_id: str, wrapped: WrappedKey, *, retire_active: bool) -> StoredKey:
        tid = check_scope(tenant_id)
        async with self._sessions.tenant_session(tid) as session:
            conn = await session.connection()
            await conn.execute(_LOCK, {"tid": tid})
            if retire_active:
                await conn.execute(_RETIRE, {"tid": tid})
            else:
                row = (await conn.execute(_ACTIVE, {"tid": tid})).first()
                if row is not None:
                    return _stored(tid, row)
            version = (
                await conn.execute(_INSERT, {"tid": tid, "kek": wrapped.kek_id, "wrapped": wrapped.ciphertext})
            ).scalar_one()
        return StoredKey(tid, int(version), wrapped)

    async def _select(self, tenant_id: str, query: Any, params: dict[str, Any]) -> StoredKey | None:
        tid = check_scope(tenant_id)
        async with self._sessions.tenant_session(tid) as session:
            row = (await (await session.connection()).execute(query, {"tid": tid, **params})).first()
        return None if row is None else _stored(tid, row)


def _stored(tenant_id: str, row: Any) -> StoredKey:
    return StoredKey(tenant_id, int(row.version), WrappedKey(row.kek_id, bytes(row.wrapped_key)))
