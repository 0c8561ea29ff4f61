"""Running the erasure plan for one customer, and the `erasures` rows that record it.

`erase_customer` is one transaction: every rule of `plan.ERASING`, then the erasure row marked `erased` with
what was removed. Either all of it commits or none, so a worker killed half-way leaves the customer as they
were and the retry starts over; a retry after the commit finds the row `erased` and returns what it recorded.
Two attempts at once (a timed-out one still running) take turns on an advisory lock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.crypto.fields import email_hash, phone_hash
from db.database import run_sql
from policies.erasure.plan import ERASING

_LOCK_POLL_SECONDS = 0.5


class ErasureNotFound(LookupError):
    """No erasure with this id in the tenant (another tenant's, or never requested)."""


@dataclass(frozen=True)
class ErasureRecord:
    id: str
    customer_id: str
    status: str
    requested_by: str
    workflow_id: str
    rows: dict[str, int] | None
    conversation_ids: list[str] | None
    report: dict[str, Any] | None
    signature: str | None
    key_id: str | None
    created_at: datetime
    erased_at: datetime | None
    completed_at: datetime | None


_COLUMNS = (
    "id, customer_id, status, requested_by, workflow_id, rows, conversation_ids, report, signature, key_id, "
    "created_at, erased_at, completed_at"
)


def _record(row: Any) -> ErasureRecord:
    return ErasureRecord(**dict(row._mapping))


async def create_erasure(
    session: AsyncSession, tenant_id: str, erasure_id: str, customer_id: str, requested_by: str, workflow_id: str
) -> tuple[ErasureRecord, bool]:
    """The customer's erasure: a new one, or the one already requested (one per customer); True when new."""
    inserted = (
        await run_sql(
            session,
            "INSERT INTO erasures (tenant_id, id, customer_id, requested_by, workflow_id) "
            "VALUES (:tid, :id, :cid, :by, :wf) ON CONFLICT (tenant_id, customer_id) DO NOTHING RETURNING id",
            {"tid": tenant_id, "id": erasure_id, "cid": customer_id, "by": requested_by, "wf": workflow_id},
        )
    ).first()
    existing = (
        await run_sql(session, f"SELECT {_COLUMNS} FROM erasures WHERE customer_id = :cid", {"cid": customer_id})  # noqa: S608
    ).one()
    return _record(existing), inserted is not None


async def read_erasure(session: AsyncSession, erasure_id: str) -> ErasureRecord:
    row = (await run_sql(session, f"SELECT {_COLUMNS} FROM erasures WHERE id = :id", {"id": erasure_id})).first()  # noqa: S608
    if row is None:
        raise ErasureNotFound(erasure_id)
    return _record(row)


async def conversations_of(session: AsyncSession, customer_id: str) -> list[str]:
    rows = await run_sql(
        session, "SELECT id FROM conversations WHERE customer_id = :cid ORDER BY created_at, id", {"cid": customer_id}
    )
    return [r.id for r in rows]


def lock_name(customer_id: str) -> str:
    """The advisory lock (`hashtextextended(name, 0)`) an erasure of this customer holds while it erases."""
    return f"aiaas.privacy.erasure:{customer_id}"


async def _lock(session: AsyncSession, customer_id: str, heartbeat: Callable[..., None]) -> None:
    # Waiting without blocking the connection, so the wait heartbeats and a dead worker is noticed.
    while not (
        await run_sql(
            session, "SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))", {"name": lock_name(customer_id)}
        )
    ).scalar():
        heartbeat("waiting for the erasure lock")
        await asyncio.sleep(_LOCK_POLL_SECONDS)


async def erase_customer(
    session: AsyncSession, erasure_id: str, customer_id: str, heartbeat: Callable[..., None]
) -> tuple[dict[str, int], list[str], bool]:
    """Erase the erasure's customer in the session's transaction: rows per table, conversation ids, repeated.

    Two erasures of one customer (two attempts of one, in practice) take turns on the customer's lock."""
    await _lock(session, customer_id, heartbeat)
    erasure = await read_erasure(session, erasure_id)
    if erasure.status != "running":
        return dict(erasure.rows or {}), list(erasure.conversation_ids or []), True
    customer = (
        await run_sql(session, "SELECT email, phone FROM customers WHERE id = :cid", {"cid": erasure.customer_id})
    ).first()
    conversations = await conversations_of(session, erasure.customer_id)
    email = customer.email.lower() if customer is not None and customer.email else None
    phone = customer.phone if customer is not None else None
    # The session is bound to the erasure's tenant (row-level security); the hashes are under its index key.
    tenant_id = str((await run_sql(session, "SELECT current_setting('app.tenant_id')")).scalar_one())
    params = {
        "email_hash": await email_hash(session, tenant_id, email) if email else None,
        "phone_hash": await phone_hash(session, tenant_id, phone) if phone else None,
        "cid": erasure.customer_id,
        "convs": conversations,
        # A customer already gone still has their conversations' traces looked for; a NULL email matches nothing.
        "email": customer.email.lower() if customer is not None and customer.email else None,
        "phone": customer.phone if customer is not None else None,
        "sources": [f"conversation:{c}" for c in conversations],
        "needles": [*conversations, erasure.customer_id],
    }
    rows: dict[str, int] = {}
    for rule in ERASING:
        result = await run_sql(session, rule.sql, params)
        rows[rule.table] = int(getattr(result, "rowcount", 0) or 0)
        heartbeat(rule.table)
    await run_sql(
        session,
        "UPDATE erasures SET status = 'erased', rows = CAST(:rows AS jsonb), "
        "conversation_ids = CAST(:convs AS jsonb), erased_at = now() WHERE id = :id",
        {"id": erasure_id, "rows": _json(rows), "convs": _json(conversations)},
    )
    return rows, conversations, False


async def store_report(
    session: AsyncSession, erasure_id: str, report: dict[str, Any], signature: str, key_id: str
) -> None:
    await run_sql(
        session,
        "UPDATE erasures SET status = 'completed', report = CAST(:report AS jsonb), signature = :sig, "
        "key_id = :key, completed_at = now() WHERE id = :id",
        {"id": erasure_id, "report": _json(report), "sig": signature, "key": key_id},
    )


def _json(value: Any) -> str:
    return json.dumps(value)
