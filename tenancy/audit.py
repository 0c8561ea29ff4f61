"""The audit log: append-only, hash-chained security events, one chain per tenant.

Every event stores the hash of the event before it in its tenant's chain and its own hash,
`sha256(prev_hash || canonical JSON of the event)`, so changing, removing or reordering a stored event breaks
the chain from there on and `tenancy.audit_read.verify_chain` names the first event that no longer fits.
Removing events at the very end leaves no trace in the chain itself; that needs the head hash kept elsewhere.

What an event records of an end customer (`private`: an approval's arguments, a decision's note) is sealed
(`tenancy.audit_sealing`) and the hash covers the SHA-256 of its ciphertext, not the clear values, so erasure
can empty it and the chain still verifies. Events from before sealing existed hash as they always did, until
`tenancy.audit_reseal` re-anchors them (their clear customer values sealed, the chain re-hashed, signed).

Appending joins the caller's transaction, so an event commits or rolls back with the change it records.
Writers of one tenant queue on a transaction-level advisory lock taken before the chain's head is read, so
two transactions never both append "the next" event; the unique (tenant, seq) is the backstop. The database
refuses UPDATE and DELETE on the table (migration 0004), except the sealed part's (0033), inside the explicit
offboarding purge, and inside `audit.reanchor` (0041).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from tenancy import audit_sealing
from tenancy.audit_sealing import SealedState

GENESIS_HASH = "0" * 64
# Events about the platform itself (a tenant's purge, which outlives the tenant's own chain). The same
# reserved id as the platform's encryption scope: not a UUID, so never a tenant's.
PLATFORM_CHAIN = "_platform"
MAX_DETAILS_BYTES = 16_384
MAX_LABEL_CHARS = 255
# Any fixed 32-bit number: the class half of the two-key advisory lock, the tenant's hash being the other.
LOCK_CLASS = 0x61756474  # "audt"
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
_MAX_ACTION_CHARS = 64
COLUMNS = (
    "id, seq, occurred_at, actor, action, target, details, idempotency_key, prev_hash, hash,"
    " sealed, sealed_sha256, sealed_key"
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    tenant_id: str
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
    idempotency_key: str | None
    prev_hash: str
    hash: str
    # The digest of the sealed part the hash covers; None for an event without one (or from before sealing).
    sealed_sha256: str | None = None
    sealed: bytes | None = None
    sealed_key: bytes | None = None
    # Filled by `list_events`: the opened sealed details and what was found of them (None: nothing sealed).
    private: dict[str, Any] | None = None
    sealed_state: SealedState | None = None


@dataclass(frozen=True)
class ReanchorCheck:
    id: int
    created_at: datetime
    first_seq: int
    last_seq: int
    old_head_hash: str
    new_head_hash: str
    key_id: str
    resealed: int
    ok: bool
    # Why it failed: `signature`, `statement` (the row and statement disagree), `unrecorded` (no chain event
    # names it), `hashes` (the chain no longer holds what it left).
    problem: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    # Events read, up to and including the first bad one.
    checked: int
    first_bad_id: int | None = None
    # The chain's re-anchors (`tenancy.audit_reanchors`), each checked; one that fails fails the chain.
    reanchored: tuple[ReanchorCheck, ...] = ()


def canonical_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode()).hexdigest()


# What the hash covers: every column but the id (assigned by the database) and the hashes themselves; of the
# sealed part, the digest of its ciphertext (only where there is one, so older events hash as they did).
_HASHED = ("tenant_id", "seq", "occurred_at", "actor", "action", "target", "details", "idempotency_key")


def hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    fields = {name: getattr(entry, name) for name in _HASHED}
    fields["occurred_at"] = entry.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    if entry.sealed_sha256 is not None:
        fields["sealed_sha256"] = entry.sealed_sha256
    return fields


def _check_label(name: str, value: object) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_LABEL_CHARS or not value.isprintable():
        raise ValueError(f"{name} must be 1 to {MAX_LABEL_CHARS} printable characters")


def _check(
    actor: str, action: str, target: str | None, details: dict[str, Any] | None, private: dict[str, Any] | None
) -> str:
    """The details as JSON text, once everything is known to fit; ValueError otherwise."""
    if not isinstance(action, str) or len(action) > _MAX_ACTION_CHARS or not _ACTION.fullmatch(action):
        raise ValueError("action must be dotted lowercase words, e.g. `key.created`")
    _check_label("actor", actor)
    if target is not None:
        _check_label("target", target)
    if details is not None and not isinstance(details, dict):
        raise ValueError("details must be a JSON object")
    if private is not None and not isinstance(private, dict):
        raise ValueError("private details must be a JSON object")
    # Values JSON cannot hold (datetimes, UUIDs) are recorded as their text rather than refused.
    encoded = json.dumps(details or {}, default=str, allow_nan=False)
    sealed_size = len(json.dumps(private, default=str, allow_nan=False).encode()) if private else 0
    if len(encoded.encode()) + sealed_size > MAX_DETAILS_BYTES:
        raise ValueError(f"details exceed {MAX_DETAILS_BYTES} bytes")
    return encoded


def json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


async def _append(
    session: AsyncSession,
    *,
    tenant_id: str,
    actor: str,
    action: str,
    target: str | None,
    details: dict[str, Any] | None,
    idempotency_key: str | None,
    private: dict[str, Any] | None,
) -> bool:
    encoded = _check(actor, action, target, details, private)
    await run_sql(session, "SELECT pg_advisory_xact_lock(:cls, hashtext(:tid))", {"cls": LOCK_CLASS, "tid": tenant_id})
    # The details go through jsonb once before hashing: what is hashed is then exactly what a reader of the
    # stored row decodes, whatever jsonb does to key order, duplicate keys or number formats.
    head = (
        await run_sql(
            session,
            "SELECT current_setting('app.tenant_id', true) AS bound, clock_timestamp() AS now,"
            " CAST(:details AS jsonb) AS details, head.seq, head.hash,"
            " EXISTS (SELECT 1 FROM audit.events WHERE tenant_id = :tid AND idempotency_key = :key) AS done"
            " FROM (SELECT 1) AS one LEFT JOIN LATERAL ("
            "  SELECT seq, hash FROM audit.events WHERE tenant_id = :tid ORDER BY seq DESC LIMIT 1"
            " ) AS head ON true",
            {"tid": tenant_id, "details": encoded, "key": idempotency_key},
        )
    ).one()
    if head.bound != tenant_id:
        # Under row-level security a session bound elsewhere would read another chain's head (or none).
        raise ValueError("audit events must be recorded in a session bound to their tenant")
    if head.done:
        return False
    prev_hash = head.hash or GENESIS_HASH
    seq = int(head.seq or 0) + 1
    part = await audit_sealing.seal(session, tenant_id, seq, private) if private else None
    entry = AuditEntry(
        id=0,
        tenant_id=tenant_id,
        seq=seq,
        occurred_at=head.now,
        actor=actor,
        action=action,
        target=target,
        details=json_value(head.details),
        idempotency_key=idempotency_key,
        prev_hash=prev_hash,
        hash="",
        sealed_sha256=part.sealed_sha256 if part else None,
    )
    await run_sql(
        session,
        "INSERT INTO audit.events"
        " (tenant_id, seq, occurred_at, actor, action, target, details, idempotency_key, prev_hash, hash,"
        " sealed, sealed_sha256, sealed_key, key_version)"
        " VALUES (:tid, :seq, :at, :actor, :action, :target, CAST(:details AS jsonb), :key, :prev, :hash,"
        " :sealed, :sealed_sha256, :sealed_key, :key_version)",
        {
            "tid": tenant_id,
            "seq": entry.seq,
            "at": entry.occurred_at,
            "actor": actor,
            "action": action,
            "target": target,
            "details": json.dumps(entry.details),
            "key": idempotency_key,
            "prev": prev_hash,
            "hash": event_hash(prev_hash, hashed_fields(entry)),
            "sealed": part.sealed if part else None,
            "sealed_sha256": entry.sealed_sha256,
            "sealed_key": part.sealed_key if part else None,
            "key_version": part.key_version if part else None,
        },
    )
    return True


async def record_event(
    session: AsyncSession,
    *,
    tenant_id: str,
    actor: str,
    action: str,
    target: str | None = None,
    details: dict | None = None,
    private: dict | None = None,
) -> None:
    """Append an event to `tenant_id`'s chain inside the session's transaction (bound to that tenant).

    `private` holds what the event records of an end customer: it is sealed, and erasure of the customer
    whose conversation (`details["conversation_id"]`) or id (`details["customer_id"]`) the event names
    empties it."""
    await _append(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        target=target,
        details=details,
        idempotency_key=None,
        private=private,
    )


async def record_event_once(
    session: AsyncSession,
    *,
    idempotency_key: str,
    tenant_id: str,
    actor: str,
    action: str,
    target: str | None = None,
    details: dict | None = None,
    private: dict | None = None,
) -> bool:
    """`record_event` for writers that may run twice; False when the key was recorded already."""
    if not idempotency_key or len(idempotency_key) > MAX_LABEL_CHARS:
        raise ValueError(f"idempotency_key must be 1 to {MAX_LABEL_CHARS} characters")
    return await _append(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        target=target,
        details=details,
        idempotency_key=idempotency_key,
        private=private,
    )
