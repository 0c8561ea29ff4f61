"""Reading the audit log: its events newest first with their sealed details opened, and verifying a tenant's chain.

Both read in a session bound to the tenant (row-level security applies); `tenancy.audit` appends.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from tenancy import audit_sealing
from tenancy.audit import COLUMNS, GENESIS_HASH, AuditEntry, VerifyResult, event_hash, hashed_fields, json_value
from tenancy.audit_reanchors import REANCHORED, check_reanchors, unknown_reanchors


def entry_of(tenant_id: str, row: Any) -> AuditEntry:
    return AuditEntry(
        id=int(row.id),
        tenant_id=tenant_id,
        seq=int(row.seq),
        occurred_at=row.occurred_at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=json_value(row.details),
        idempotency_key=row.idempotency_key,
        prev_hash=row.prev_hash,
        hash=row.hash,
        sealed_sha256=row.sealed_sha256,
        sealed=bytes(row.sealed) if row.sealed is not None else None,
        sealed_key=bytes(row.sealed_key) if row.sealed_key is not None else None,
    )


async def require_binding(session: AsyncSession, tenant_id: str) -> None:
    bound = (await run_sql(session, "SELECT current_setting('app.tenant_id', true)")).scalar()
    if bound != tenant_id:
        raise ValueError("the audit log is read in a session bound to its tenant")


async def verify_chain(session: AsyncSession, tenant_id: str) -> VerifyResult:
    """Recompute `tenant_id`'s chain from its first event; the first event that does not fit fails it. Then
    its re-anchors are checked (`tenancy.audit_reanchors`): one that fails fails the chain too."""
    await require_binding(session, tenant_id)
    connection = await session.connection()
    rows = await connection.stream(
        text(f"SELECT {COLUMNS} FROM audit.events WHERE tenant_id = :tid ORDER BY seq"),  # noqa: S608
        {"tid": tenant_id},
    )
    checked = 0
    prev_hash = GENESIS_HASH
    hashes: dict[int, str] = {}
    recorded: dict[int, str] = {}
    async for row in rows:
        checked += 1
        entry = entry_of(tenant_id, row)
        if (
            entry.seq != checked
            or entry.prev_hash != prev_hash
            or event_hash(prev_hash, hashed_fields(entry)) != entry.hash
            # A sealed part still stored must be the one hashed (an erased one is simply gone).
            or (entry.sealed is not None and audit_sealing.digest(entry.sealed) != entry.sealed_sha256)
        ):
            await rows.close()
            return VerifyResult(ok=False, checked=checked, first_bad_id=entry.id)
        prev_hash = hashes[entry.seq] = entry.hash
        if entry.action == REANCHORED:
            recorded[int(entry.details.get("reanchor_id", 0))] = str(entry.details.get("statement_sha256"))
    checks = tuple(await check_reanchors(session, tenant_id, hashes, recorded))
    intact = all(check.ok for check in checks) and not unknown_reanchors(list(checks), recorded)
    return VerifyResult(ok=intact, checked=checked, reanchored=checks)


async def list_events(
    session: AsyncSession,
    tenant_id: str,
    *,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Newest first (by time, then id); `before` (a time and an id) continues a listing after that position."""
    await require_binding(session, tenant_id)
    clauses = ["tenant_id = :tid"]
    params: dict[str, Any] = {"tid": tenant_id, "limit": limit}
    for clause, name, value in (
        ("action = :action", "action", action),
        ("occurred_at >= :since", "since", since),
        ("occurred_at < :until", "until", until),
    ):
        if value is not None:
            clauses.append(clause)
            params[name] = value
    if before is not None:
        clauses.append("(occurred_at, id) < (:before_at, :before_id)")
        params.update(before_at=before[0], before_id=before[1])
    rows = await run_sql(
        session,
        # Fixed clauses chosen above; every value is a bound parameter.
        f"SELECT {COLUMNS} FROM audit.events WHERE {' AND '.join(clauses)} ORDER BY occurred_at DESC, id DESC"  # noqa: S608
        " LIMIT :limit",
        params,
    )
    return [await _opened(session, entry_of(tenant_id, row)) for row in rows]


async def _opened(session: AsyncSession, entry: AuditEntry) -> AuditEntry:
    if entry.sealed_sha256 is None:
        return entry
    private, state = await audit_sealing.open_sealed(
        session, entry.tenant_id, entry.seq, entry.sealed, entry.sealed_key
    )
    return replace(entry, private=private, sealed_state=state)
