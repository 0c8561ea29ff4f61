"""Fields of tenant rows sealed at rest with AES-256-GCM under the tenant's data key (transcripts, tool calls).

A sealed field is `scheme (1 byte) + key version (4 bytes, big-endian) + nonce (12) + ciphertext`. The
associated data names the field (`messages.content`), the tenant, the row and the key version, so a
ciphertext copied into another tenant's row, another row of the same tenant or another column does not open.
Old versions stay readable after a rotation (the version travels with the value) until the background
re-encryption (`workflows.key_rotation`) has rewritten every row under the new one.

Keys are read through the caller's own tenant-bound session (row-level security scopes them, and a write
that creates the tenant's first key does it in the caller's transaction), and the unwrapped keys are cached
process-wide by one keyring, so a transcript write costs one AES operation, not a key load. The KMS comes
from the process's settings (`configure`), read from the environment when nobody configured it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto.factory import build_kms
from core.crypto.keyring import DataKey, Keyring
from core.crypto.kms import WrappedKey
from core.crypto.store import StoredKey, check_scope
from core.settings import Settings

SCHEME = b"\x01"
_NONCE = 12
_TAG = 16
_HEADER = 1 + 4

_SESSION: ContextVar[AsyncSession | None] = ContextVar("aiaas_field_key_session", default=None)
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('aiaas.data_keys:' || :tid, 0))")
_ACTIVE = text(
    "SELECT version, kek_id, wrapped_key FROM tenant_data_keys WHERE tenant_id = :tid AND retired_at IS NULL"
)
# A version whose fields were all re-encrypted under a newer one is retired for fields (not for payloads).
_ONE = text(
    "SELECT version, kek_id, wrapped_key FROM tenant_data_keys"
    " WHERE tenant_id = :tid AND version = :version AND fields_retired_at IS NULL"
)
_RETIRE = text("UPDATE tenant_data_keys SET retired_at = now() WHERE tenant_id = :tid AND retired_at IS NULL")
_INSERT = text(
    "INSERT INTO tenant_data_keys (tenant_id, version, kek_id, wrapped_key) "
    "SELECT CAST(:tid AS text), COALESCE(MAX(version), 0) + 1, :kek, :wrapped FROM tenant_data_keys "
    "WHERE tenant_id = CAST(:tid AS text) RETURNING version"
)


class FieldUnavailable(Exception):
    """A sealed field does not open: altered, copied from another row or tenant, or its key is gone."""


class _SessionKeyStore:
    """The key store of the session the current sealing call runs in (a context variable names it)."""

    def _conn_session(self) -> AsyncSession:
        session = _SESSION.get()
        if session is None:
            raise RuntimeError("field keys are read only inside FieldSealer calls")
        return session

    async def _select(self, query: Any, params: dict[str, Any]) -> StoredKey | None:
        conn = await self._conn_session().connection()
        row = (await conn.execute(query, params)).first()
        if row is None:
            return None
        return StoredKey(params["tid"], int(row.version), WrappedKey(row.kek_id, bytes(row.wrapped_key)))

    async def active(self, tenant_id: str) -> StoredKey | None:
        return await self._select(_ACTIVE, {"tid": check_scope(tenant_id)})

    async def get(self, tenant_id: str, version: int) -> StoredKey | None:
        return await self._select(_ONE, {"tid": check_scope(tenant_id), "version": version})

    async def add(self, tenant_id: str, wrapped: WrappedKey, *, retire_active: bool) -> StoredKey:
        tid = check_scope(tenant_id)
        conn = await self._conn_session().connection()
        await conn.execute(_LOCK, {"tid": tid})
        if retire_active:
            await conn.execute(_RETIRE, {"tid": tid})
        else:
            existing = await self._select(_ACTIVE, {"tid": tid})
            if existing is not None:
                return existing
        inserted = await conn.execute(_INSERT, {"tid": tid, "kek": wrapped.kek_id, "wrapped": wrapped.ciphertext})
        return StoredKey(tid, int(inserted.scalar_one()), wrapped)


_keyring: Keyring | None = None


def configure(settings: Settings) -> None:
    """Use `settings`' KMS and cache bounds for every sealed field of this process (called at start)."""
    global _keyring
    _keyring = Keyring(
        _SessionKeyStore(),
        build_kms(settings),
        ttl_seconds=settings.data_key_cache_seconds,
        max_entries=settings.data_key_cache_entries,
    )


def keyring() -> Keyring:
    if _keyring is None:
        configure(Settings())
    assert _keyring is not None
    return _keyring


@asynccontextmanager
async def _bound(session: AsyncSession) -> AsyncIterator[Keyring]:
    token = _SESSION.set(session)
    try:
        yield keyring()
    finally:
        _SESSION.reset(token)


def key_version_of(blob: bytes) -> int:
    return int.from_bytes(bytes(blob)[1:_HEADER], "big")


def _aad(field: str, tenant_id: str, row: str, version: int) -> bytes:
    return f"aiaas-field/v1\x00{field}\x00{tenant_id}\x00{row}\x00{version}".encode()


def _encrypt(key: DataKey, field: str, row: str, plain: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    sealed = key.aead.encrypt(nonce, plain, _aad(field, key.tenant_id, row, key.version))
    return SCHEME + key.version.to_bytes(4, "big") + nonce + sealed


class FieldSealer:
    """Seals and opens one tenant's fields inside a tenant-bound session; stateless, so one per call is fine."""

    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self._session = session
        self._tenant = check_scope(tenant_id)

    async def active_version(self) -> int:
        async with _bound(self._session) as ring:
            return (await ring.active(self._tenant)).version

    async def seal(self, field: str, row: str, value: str) -> bytes:
        async with _bound(self._session) as ring:
            key = await ring.active(self._tenant)
        return _encrypt(key, field, row, value.encode())

    async def seal_json(self, field: str, row: str, value: Any) -> bytes:
        return await self.seal(field, row, json.dumps(value, default=str, separators=(",", ":")))

    async def open(self, field: str, row: str, blob: bytes) -> str:
        blob = bytes(blob)
        if len(blob) < _HEADER + _NONCE + _TAG or blob[:1] != SCHEME:
            raise FieldUnavailable(f"{field} of row {row} is not in a known sealed format")
        version = key_version_of(blob)
        try:
            async with _bound(self._session) as ring:
                key = await ring.get(self._tenant, version)
            plain = key.aead.decrypt(
                blob[_HEADER : _HEADER + _NONCE], blob[_HEADER + _NONCE :], _aad(field, self._tenant, row, version)
            )
        except (InvalidTag, LookupError, ValueError) as exc:
            raise FieldUnavailable(f"{field} of row {row} does not open: {type(exc).__name__}") from exc
        return plain.decode()

    async def open_json(self, field: str, row: str, blob: bytes) -> Any:
        return json.loads(await self.open(field, row, blob))

    async def rotate(self) -> int:
        """A new active key version for this tenant (the old one stays readable); its number."""
        async with _bound(self._session) as ring:
            return (await ring.rotate(self._tenant)).version


_RETIRE_BELOW = text(
    "UPDATE tenant_data_keys SET fields_retired_at = now()"
    " WHERE tenant_id = :tid AND version < :target AND fields_retired_at IS NULL RETURNING version"
)


async def retire_versions_below(session: AsyncSession, tenant_id: str, target: int) -> list[int]:
    """Mark the versions below `target` retired for fields (workflow payloads may still use them).

    This process forgets its cached keys at once; other processes stop opening the retired versions within
    their cache TTL (`data_key_cache_seconds`).
    """
    conn = await session.connection()
    rows = (await conn.execute(_RETIRE_BELOW, {"tid": check_scope(tenant_id), "target": target})).all()
    if rows:
        keyring().forget()
    return sorted(int(r.version) for r in rows)


# The index key derives from the tenant's first data key version, which no rotation replaces, so a hash taken
# before a rotation still matches after it; only crypto-shredding the tenant's keys makes them unfindable.
_FIRST = text(
    "SELECT version, kek_id, wrapped_key FROM tenant_data_keys WHERE tenant_id = :tid ORDER BY version LIMIT 1"
)
_index_keys: dict[str, bytes] = {}


async def blind_index(session: AsyncSession, tenant_id: str, purpose: str, value: str) -> bytes:
    """A keyed hash (HMAC-SHA256 under a per-tenant index key) of `value`, for equality lookups without clear text.

    `purpose` separates kinds (`customers.email`), so equal values of different kinds do not match. Callers
    normalise `value` first (an email lowercased).
    """
    tid = check_scope(tenant_id)
    key = _index_keys.get(tid)
    if key is None:
        await FieldSealer(session, tid).active_version()  # creates the tenant's first key when it has none
        row = (await (await session.connection()).execute(_FIRST, {"tid": tid})).one()
        raw = await keyring().kms.unwrap(WrappedKey(row.kek_id, bytes(row.wrapped_key)))
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"aiaas-blind-index/v1").derive(raw)
        if len(_index_keys) >= 4096:
            _index_keys.clear()
        _index_keys[tid] = key
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()


async def email_hash(session: AsyncSession, tenant_id: str, email: str) -> bytes:
    """What lookups by email compare (customers, erasure): the keyed hash of the lowercased email."""
    return await blind_index(session, tenant_id, "email", email.strip().lower())


def normalised_phone(phone: str) -> str:
    """What a phone's keyed hash is taken of: its digits, with a leading `+` kept."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return ("+" + digits) if phone.strip().startswith("+") else digits


async def phone_hash(session: AsyncSession, tenant_id: str, phone: str) -> bytes:
    """What lookups by phone compare (leads, erasure): the keyed hash of its digits."""
    return await blind_index(session, tenant_id, "phone", normalised_phone(phone))
