"""Checking the re-anchors of a tenant's audit chain (`tenancy.audit_reseal`, table `audit.reanchors`).

A re-anchor rewrote the hashes of events `first_seq..last_seq` once their clear customer details were sealed.
It is accepted when:

- its statement's Ed25519 signature verifies under the tenant's signing key it names (`privacy_signing_keys`,
  the key erasure reports are signed with), and the stored row says what the statement says: range, hash
  before the range, old and new head, and the SHA-256 of the stored old and new hash lists;
- it is in the chain: an `audit.reanchored` event names it and the digest of its statement, and no such event
  names a re-anchor that is not stored;
- its new hashes are what the chain held after it: undoing the re-anchors newest first, from the hashes the
  chain holds now, each one's new hashes must be exactly the state it left, and its `prev_hash` the hash of
  the event before its range. So a chain re-hashed again behind its back (every hash recomputed after an
  edit) fails, even where each event fits its predecessor.

`verify_chain` (`tenancy.audit_read`) runs this after the chain itself verified.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from tenancy.audit import GENESIS_HASH, ReanchorCheck, canonical_json, json_value

REANCHORED = "audit.reanchored"
_HASH_BYTES = 32
_READ = (
    "SELECT r.id, r.created_at, r.first_seq, r.last_seq, r.prev_hash, r.old_head_hash, r.new_head_hash,"
    " r.old_hashes, r.new_hashes, r.statement, r.key_id, r.signature, k.public_key"
    " FROM audit.reanchors AS r LEFT JOIN privacy_signing_keys AS k ON k.tenant_id = r.tenant_id"
    " AND k.key_id = r.key_id WHERE r.tenant_id = :tid ORDER BY r.id"
)


def hashes_sha256(hashes: list[str]) -> str:
    return hashlib.sha256(bytes.fromhex("".join(hashes))).hexdigest()


def statement_sha256(statement: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(statement).encode()).hexdigest()


def signature_ok(public: bytes | None, statement: dict[str, Any], signature: str) -> bool:
    if public is None:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        Ed25519PublicKey.from_public_bytes(bytes(public)).verify(raw, canonical_json(statement).encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def _split(blob: bytes) -> list[str]:
    return [blob[i : i + _HASH_BYTES].hex() for i in range(0, len(blob), _HASH_BYTES)]


def _row_problem(row: Any, statement: dict[str, Any], old: list[str], new: list[str]) -> str | None:
    if not signature_ok(row.public_key, statement, row.signature):
        return "signature"
    stated = (
        statement.get("first_seq") == row.first_seq
        and statement.get("last_seq") == row.last_seq
        and statement.get("prev_hash") == row.prev_hash
        and statement.get("old_head_hash") == row.old_head_hash == (old[-1] if old else None)
        and statement.get("new_head_hash") == row.new_head_hash == (new[-1] if new else None)
        and statement.get("old_hashes_sha256") == hashlib.sha256(bytes(row.old_hashes)).hexdigest()
        and statement.get("new_hashes_sha256") == hashlib.sha256(bytes(row.new_hashes)).hexdigest()
        and statement.get("signed_with") == row.key_id
        and len(old) == len(new) == row.last_seq - row.first_seq + 1
    )
    return None if stated else "statement"


async def check_reanchors(
    session: AsyncSession, tenant_id: str, hashes: dict[int, str], recorded: dict[int, str]
) -> list[ReanchorCheck]:
    """Each re-anchor of the tenant checked against the chain's current `hashes` (seq -> hash) and the
    `audit.reanchored` events found in it (re-anchor id -> statement digest), oldest first."""
    rows = (await run_sql(session, _READ, {"tid": tenant_id})).all()
    problems: dict[int, str | None] = {}
    parsed = []
    for row in rows:
        statement = json_value(row.statement)
        old, new = _split(bytes(row.old_hashes)), _split(bytes(row.new_hashes))
        problem = _row_problem(row, statement, old, new)
        if problem is None and recorded.get(int(row.id)) != statement_sha256(statement):
            problem = "unrecorded"
        problems[int(row.id)] = problem
        parsed.append((row, statement, old, new))
    # Undo the re-anchors newest first: each must find the hashes it left, and leaves those it found.
    state = dict(hashes)
    for row, _, old, new in reversed(parsed):
        if problems[int(row.id)] is not None:
            continue
        seqs = range(int(row.first_seq), int(row.last_seq) + 1)
        before = GENESIS_HASH if row.first_seq == 1 else state.get(int(row.first_seq) - 1)
        if before != row.prev_hash or any(state.get(s) != h for s, h in zip(seqs, new, strict=True)):
            problems[int(row.id)] = "hashes"
            continue
        state.update(zip(seqs, old, strict=True))
    return [
        ReanchorCheck(
            id=int(row.id),
            created_at=row.created_at,
            first_seq=int(row.first_seq),
            last_seq=int(row.last_seq),
            old_head_hash=row.old_head_hash,
            new_head_hash=row.new_head_hash,
            key_id=row.key_id,
            resealed=len(statement.get("resealed") or []),
            ok=problems[int(row.id)] is None,
            problem=problems[int(row.id)],
        )
        for row, statement, _, _ in parsed
    ]


def unknown_reanchors(checks: list[ReanchorCheck], recorded: dict[int, str]) -> set[int]:
    """Re-anchor ids `audit.reanchored` events name that are not stored (a row removed behind our back)."""
    return set(recorded) - {check.id for check in checks}
