"""The sealed part of an audit event: what it records of an end customer, erasable without breaking the chain.

An event's customer-bearing details (an approval's arguments, a decision's note) are encrypted with
AES-256-GCM under a fresh key of the event's own; that key is sealed under the tenant's data key
(`core.crypto.fields`, field `audit.events.key`, row = the event's sequence number). The chain hashes the
SHA-256 of the ciphertext (`sealed_sha256`), never the clear values, so:

- erasure empties `sealed` and `sealed_key` (`policies.erasure.plan`, by the conversation or customer id the
  event's clear details name): nothing is left to open, and the digest
  the hash covers is still there, so the chain verifies;
- key rotation re-wraps `sealed_key` under the new data key version (`rewrap`); the hashed ciphertext stays;
- a crypto-shred of the tenant's data keys leaves the ciphertext unreadable and the chain intact.

The associated data binds the ciphertext to its tenant and sequence number, so bytes copied from another event
or tenant do not open. The database lets only these three columns change, and `sealed` only to NULL
(migration 0033); re-anchoring (`tenancy.audit_reseal`, 0041) adds a sealed part to an event from before.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel.ext.asyncio.session import AsyncSession

from core.crypto.fields import FieldSealer, FieldUnavailable, key_version_of
from db.database import run_sql

KEY_FIELD = "audit.events.key"
_SCHEME = b"\x01"
_NONCE = 12


class SealedState(StrEnum):
    """What a reader finds of an event's sealed part."""

    OPENED = "opened"
    # Emptied by an erasure of the customer it named.
    ERASED = "erased"
    # Still stored, but its key no longer opens (the tenant's keys were shredded, or the bytes were moved).
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class SealedPart:
    sealed: bytes
    sealed_sha256: str
    sealed_key: bytes
    key_version: int


def digest(sealed: bytes) -> str:
    return hashlib.sha256(bytes(sealed)).hexdigest()


def _aad(tenant_id: str, seq: int) -> bytes:
    return f"aiaas-audit/v1\x00{tenant_id}\x00{seq}".encode()


async def seal(session: AsyncSession, tenant_id: str, seq: int, private: dict[str, Any]) -> SealedPart:
    """`private` sealed for event `seq` of `tenant_id`'s chain (the session bound to that tenant)."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = secrets.token_bytes(_NONCE)
    plain = json.dumps(private, default=str, separators=(",", ":"), sort_keys=True).encode()
    sealed = _SCHEME + nonce + AESGCM(key).encrypt(nonce, plain, _aad(tenant_id, seq))
    wrapped = await FieldSealer(session, tenant_id).seal(KEY_FIELD, str(seq), base64.b64encode(key).decode())
    return SealedPart(
        sealed=sealed, sealed_sha256=digest(sealed), sealed_key=wrapped, key_version=key_version_of(wrapped)
    )


async def open_sealed(
    session: AsyncSession, tenant_id: str, seq: int, sealed: bytes | None, sealed_key: bytes | None
) -> tuple[dict[str, Any], SealedState]:
    """The clear sealed details of an event and what state they were found in (`{}` unless opened)."""
    if sealed is None or sealed_key is None:
        return {}, SealedState.ERASED
    blob = bytes(sealed)
    try:
        key = base64.b64decode(await FieldSealer(session, tenant_id).open(KEY_FIELD, str(seq), sealed_key))
        plain = AESGCM(key).decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], _aad(tenant_id, seq))
    except (FieldUnavailable, InvalidTag, ValueError):
        return {}, SealedState.UNAVAILABLE
    return json.loads(plain), SealedState.OPENED


_STALE = "sealed_key IS NOT NULL AND key_version < :target"
_REWRAP_BATCH = (
    f"SELECT seq, sealed_key FROM audit.events WHERE tenant_id = :tid AND {_STALE}"  # noqa: S608
    " ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_REWRAP = (
    "UPDATE audit.events a SET sealed_key = u.sealed_key, key_version = u.key_version"
    " FROM unnest(CAST(:seqs AS bigint[]), CAST(:keys AS bytea[]), CAST(:versions AS int[]))"
    " AS u(seq, sealed_key, key_version) WHERE a.tenant_id = :tid AND a.seq = u.seq"
)


def remaining_sql() -> str:
    """The session tenant's events whose key is wrapped below `:target`, for a SELECT list."""
    return f"(SELECT count(*) FROM audit.events WHERE {_STALE})"  # noqa: S608


async def rewrap(session: AsyncSession, tenant_id: str, *, target: int, limit: int) -> int:
    """Re-wrap up to `limit` event keys below `target` under the active data key version; how many were.

    The ciphertext, and so the chain, is untouched: only the event's own key is sealed again."""
    rows = (await run_sql(session, _REWRAP_BATCH, {"tid": tenant_id, "target": target, "limit": limit})).all()
    sealer = FieldSealer(session, tenant_id)
    seqs, keys, versions = [], [], []
    for row in rows:
        key = await sealer.open(KEY_FIELD, str(row.seq), row.sealed_key)
        wrapped = await sealer.seal(KEY_FIELD, str(row.seq), key)
        seqs.append(int(row.seq))
        keys.append(wrapped)
        versions.append(key_version_of(wrapped))
    if rows:
        await run_sql(session, _REWRAP, {"tid": tenant_id, "seqs": seqs, "keys": keys, "versions": versions})
    return len(rows)


async def export_row(session: AsyncSession, row: Any) -> dict[str, Any]:
    """An audit event in a tenant's export: its sealed part opened (`sealed_details`), no key or ciphertext, since
    the leaving tenant gets no keys; the digest stays, so the archived chain can still be checked."""
    exported = dict(row._mapping)
    sealed, sealed_key = exported.pop("sealed", None), exported.pop("sealed_key", None)
    if exported.get("sealed_sha256") is not None:
        details, state = await open_sealed(session, str(row.tenant_id), int(row.seq), sealed, sealed_key)
        exported["sealed_details"], exported["sealed_state"] = details, state.value
    return exported
