"""Re-anchoring old audit chains: clear customer details of events from before sealing move into the sealed part.

Events written before migration 0033 kept what they recorded of an end customer in `details` (an approval's
`arguments`, a decision's `note`), and their hashes commit to those values, so erasure could not reach them.
`reseal_batch` takes the tenant's oldest such events (up to a batch), seals those keys exactly as
`record_event(..., private=...)` does today, recomputes every hash from the first changed event to the head,
and has the database apply it through `audit.reanchor` (migration 0041), which checks that the signed
statement states exactly this change and stores it in `audit.reanchors` with the hashes before and after.
An `audit.reanchored` event then joins the chain, so later events commit to the re-anchor too.

The statement, signed with the tenant's Ed25519 key (the one that signs erasure reports), names the tenant, the
range re-hashed, the hash before it (`prev_hash`), the head hash before and after, and the SHA-256 of every
hash of the range before and after (32 bytes each, in order). Whoever kept an earlier head hash finds it among
the old hashes and checks the signature (`tenancy.audit_reanchors`).

Each batch is one transaction, under the chain's append lock: after it commits the chain verifies, and a run
that stops between batches (a crash, a deploy) continues with the events still in clear; a run that finds
none changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import Database, run_sql
from tenancy import audit_sealing
from tenancy.audit import COLUMNS, GENESIS_HASH, LOCK_CLASS, AuditEntry, event_hash, hashed_fields, record_event
from tenancy.audit_read import entry_of, require_binding
from tenancy.audit_reanchors import REANCHORED, hashes_sha256, statement_sha256

STATEMENT_VERSION = 1
# What each action recorded of an end customer in clear before sealing; the keys its writers now pass as
# `private` (activities/approvals.py, tenancy/invitations.py). The database accepts no other keys (0041).
PRIVATE_KEYS: dict[str, tuple[str, ...]] = {
    "approval.requested": ("arguments",),
    "approval.approved": ("note",),
    "approval.denied": ("note",),
    "approval.expired": ("note",),
    "invitation.created": ("email",),
    "invitation.revoked": ("email",),
    "invitation.accepted": ("email",),
}
DEFAULT_BATCH = 500
MAX_BATCH = 5000

_ACTIONS = sorted(PRIVATE_KEYS)
_KEYS = [",".join(PRIVATE_KEYS[a]) for a in _ACTIONS]
_IN_CLEAR = (
    "SELECT seq FROM audit.events AS e WHERE e.tenant_id = :tid AND e.sealed_sha256 IS NULL AND EXISTS ("
    " SELECT 1 FROM unnest(CAST(:actions AS text[]), CAST(:keys AS text[])) AS p(action, keys),"
    " unnest(string_to_array(p.keys, ',')) AS k(key) WHERE p.action = e.action AND (e.details -> k.key) IS NOT NULL)"
    " ORDER BY seq LIMIT :limit"
)
_REANCHOR = (
    "SELECT audit.reanchor(:tid, :first, CAST(:hashes AS text[]), CAST(:seqs AS bigint[]),"
    " CAST(CAST(:details AS text[]) AS jsonb[]), CAST(:sealed AS bytea[]), CAST(:sealed_key AS bytea[]),"
    " CAST(:versions AS integer[]), CAST(:statement AS jsonb), :key_id, :signature)"
)


class StatementSigner(Protocol):
    """The tenant's signing key (`policies.erasure.signing.ReportSigner`): its id, and a signature of a
    document naming it in `signed_with`."""

    async def key_id(self, session: AsyncSession, tenant_id: str) -> str: ...

    async def sign(self, session: AsyncSession, tenant_id: str, report: dict[str, Any]) -> str: ...


@dataclass(frozen=True)
class Reanchor:
    id: int
    first_seq: int
    last_seq: int
    resealed: int
    old_head_hash: str
    new_head_hash: str


async def in_clear(session: AsyncSession, tenant_id: str, limit: int) -> list[int]:
    """Sequence numbers of the tenant's oldest events still holding customer details in clear."""
    rows = await run_sql(session, _IN_CLEAR, {"tid": tenant_id, "actions": _ACTIONS, "keys": _KEYS, "limit": limit})
    return [int(seq) for seq in rows.scalars()]


class ChainBroken(ValueError):
    """The part of the chain a re-anchor would re-hash does not verify: re-hashing it would hide that."""


def _require_intact(prev: str, entries: list[AuditEntry]) -> None:
    for expected, entry in enumerate(entries, start=entries[0].seq if entries else 1):
        if entry.seq != expected or entry.prev_hash != prev or event_hash(prev, hashed_fields(entry)) != entry.hash:
            raise ChainBroken(f"the audit chain does not verify at event {entry.id}; it is not re-anchored")
        prev = entry.hash


async def reseal_batch(
    session: AsyncSession, tenant_id: str, signer: StatementSigner, *, actor: str, limit: int = DEFAULT_BATCH
) -> Reanchor | None:
    """Re-anchor up to `limit` of the tenant's clear events in the session's transaction; None if none is left.

    Raises `ChainBroken` when the events it would re-hash do not verify as stored: a re-anchor vouches only
    for a chain that was intact."""
    if not 1 <= limit <= MAX_BATCH:
        raise ValueError(f"batch size must be 1 to {MAX_BATCH}")
    await require_binding(session, tenant_id)
    if not await in_clear(session, tenant_id, 1):
        # Nothing to do: no key made, no lock held (erasure calls this in a transaction that may then wait).
        return None
    # The signing key first: creating it may create the tenant's data key too, which the keyring does on a
    # connection of its own, and must not wait on a key this transaction would create while sealing.
    key_id = await signer.key_id(session, tenant_id)
    await run_sql(session, "SELECT pg_advisory_xact_lock(:cls, hashtext(:tid))", {"cls": LOCK_CLASS, "tid": tenant_id})
    changed = await in_clear(session, tenant_id, limit)
    if not changed:
        return None
    first, wanted = changed[0], set(changed)
    rows = (
        await run_sql(
            session,
            f"SELECT {COLUMNS} FROM audit.events WHERE tenant_id = :tid AND seq >= :from ORDER BY seq",  # noqa: S608
            {"tid": tenant_id, "from": first - 1},
        )
    ).all()
    entries = [entry_of(tenant_id, row) for row in rows]
    prev = GENESIS_HASH
    if first > 1:
        if entries[0].seq != first - 1:
            raise ChainBroken(f"the audit chain has no event {first - 1}; it is not re-anchored")
        prev, entries = entries[0].hash, entries[1:]
    _require_intact(prev, entries)
    old, new, parts = [], [], []
    for entry in entries:
        old.append(entry.hash)
        if entry.seq in wanted:
            keys = PRIVATE_KEYS[entry.action]
            private = {k: entry.details[k] for k in keys if k in entry.details}
            part = await audit_sealing.seal(session, tenant_id, entry.seq, private)
            details = {k: v for k, v in entry.details.items() if k not in keys}
            entry = replace(entry, details=details, sealed_sha256=part.sealed_sha256)
            parts.append((entry.seq, details, part))
        prev = event_hash(prev, hashed_fields(entry))
        new.append(prev)
    last = entries[-1].seq
    statement: dict[str, Any] = {
        "version": STATEMENT_VERSION,
        "kind": REANCHORED,
        "tenant_id": tenant_id,
        "first_seq": first,
        "last_seq": last,
        "prev_hash": entries[0].prev_hash,
        "old_head_hash": old[-1],
        "new_head_hash": new[-1],
        "old_hashes_sha256": hashes_sha256(old),
        "new_hashes_sha256": hashes_sha256(new),
        "resealed": [seq for seq, _, _ in parts],
        "signed_with": key_id,
        "signed_at": datetime.now(UTC).isoformat(),
    }
    signature = await signer.sign(session, tenant_id, statement)
    reanchor_id = (
        await run_sql(
            session,
            _REANCHOR,
            {
                "tid": tenant_id,
                "first": first,
                "hashes": new,
                "seqs": [seq for seq, _, _ in parts],
                "details": [json.dumps(details) for _, details, _ in parts],
                "sealed": [part.sealed for _, _, part in parts],
                "sealed_key": [part.sealed_key for _, _, part in parts],
                "versions": [part.key_version for _, _, part in parts],
                "statement": json.dumps(statement),
                "key_id": key_id,
                "signature": signature,
            },
        )
    ).scalar_one()
    await record_event(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action=REANCHORED,
        target=f"reanchor:{reanchor_id}",
        details={
            "reanchor_id": int(reanchor_id),
            "first_seq": first,
            "last_seq": last,
            "old_head_hash": old[-1],
            "new_head_hash": new[-1],
            "resealed": len(parts),
            "signed_with": key_id,
            "statement_sha256": statement_sha256(statement),
        },
    )
    return Reanchor(int(reanchor_id), first, last, len(parts), old[-1], new[-1])


async def reseal_all(session: AsyncSession, tenant_id: str, signer: StatementSigner, *, actor: str) -> list[Reanchor]:
    """Every clear event of the tenant re-anchored in the session's transaction (batches of `MAX_BATCH`)."""
    done: list[Reanchor] = []
    while (reanchor := await reseal_batch(session, tenant_id, signer, actor=actor, limit=MAX_BATCH)) is not None:
        done.append(reanchor)
    return done


async def reseal_tenant(
    db: Database,
    tenant_id: str,
    signer: StatementSigner,
    *,
    actor: str,
    batch_size: int = DEFAULT_BATCH,
    on_batch: Callable[[Reanchor], None] | None = None,
) -> list[Reanchor]:
    """Every clear event of the tenant re-anchored, one transaction per batch; resumes where a stopped run left."""
    done: list[Reanchor] = []
    while True:
        async with db.tenant_session(tenant_id) as session:
            reanchor = await reseal_batch(session, tenant_id, signer, actor=actor, limit=batch_size)
        if reanchor is None:
            return done
        done.append(reanchor)
        if on_batch is not None:
            on_batch(reanchor)
