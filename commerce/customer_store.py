"""The tenant's customers as records: read one, list them newest first, and upsert many by email at once.

A customer is keyed for upserts by its email, the one natural key the schema holds unique per tenant
(`uq_customers_tenant_email`); emails are stored lowercased, so `Ada@Example.com` and `ada@example.com` are one
customer. An upsert sets the name, and the phone unless the caller keeps it (`keep_phone`), which leaves an
existing customer's phone as it was and gives a new one none. Every function runs in the caller's
tenant-bound session, so row-level security keeps each one inside that tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.crypto.fields import email_hash
from db.database import run_sql

_COLUMNS = "id, email, name, phone, created_at"
# The ON CONFLICT clause cannot see a per-row flag, so rows that keep their phone go in a statement of their own.
_INSERT = (
    "INSERT INTO customers (id, tenant_id, email, name, phone, email_hash)"
    " SELECT u.id, :tid, u.email, u.name, u.phone, u.email_hash FROM unnest("
    "CAST(:ids AS text[]), CAST(:emails AS text[]), CAST(:names AS text[]), CAST(:phones AS text[]),"
    " CAST(:hashes AS bytea[])) AS u(id, email, name, phone, email_hash)"
    " ON CONFLICT (tenant_id, email) DO UPDATE SET name = EXCLUDED.name, email_hash = EXCLUDED.email_hash"
)
_RETURNING = " RETURNING id, email, name, phone, created_at, (xmax = 0) AS inserted"
_UPSERTS = {
    False: _INSERT + ", phone = EXCLUDED.phone" + _RETURNING,
    True: _INSERT + _RETURNING,
}


@dataclass(frozen=True)
class CustomerRecord:
    id: str
    email: str
    name: str
    phone: str | None
    created_at: datetime


@dataclass(frozen=True)
class CustomerUpsert:
    email: str
    name: str
    phone: str | None = None
    keep_phone: bool = False


@dataclass(frozen=True)
class CustomerUpserts:
    created: int
    updated: int
    # In the order the upserts were given.
    records: list[CustomerRecord]


def _record(row: Any) -> CustomerRecord:
    return CustomerRecord(id=row.id, email=row.email, name=row.name, phone=row.phone, created_at=row.created_at)


async def find_customer(session: AsyncSession, customer_id: str) -> CustomerRecord | None:
    row = (await run_sql(session, f"SELECT {_COLUMNS} FROM customers WHERE id = :id", {"id": customer_id})).first()  # noqa: S608
    return None if row is None else _record(row)


async def list_customers(
    session: AsyncSession,
    *,
    tenant_id: str,
    email: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[CustomerRecord]:
    """Newest first (ties broken by id), after the position `after` (created_at, id) when given."""
    hashed = await email_hash(session, tenant_id, email) if email is not None else None
    rows = await run_sql(
        session,
        f"SELECT {_COLUMNS} FROM customers"  # noqa: S608
        " WHERE (CAST(:email_hash AS bytea) IS NULL OR email_hash = :email_hash)"
        " AND (CAST(:after_at AS timestamptz) IS NULL"
        " OR (created_at, id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS text)))"
        " ORDER BY created_at DESC, id DESC LIMIT :limit",
        {
            "email_hash": hashed,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [_record(row) for row in rows]


async def upsert_customers(session: AsyncSession, tenant_id: str, upserts: Sequence[CustomerUpsert]) -> CustomerUpserts:
    """Create or update each customer by email; the emails must be distinct (one statement may not touch a row
    twice)."""
    emails = [upsert.email.lower() for upsert in upserts]
    if len(set(emails)) != len(emails):
        raise ValueError("each email may appear once per upsert")
    found: dict[str, tuple[CustomerRecord, bool]] = {}
    for keep, statement in _UPSERTS.items():
        part = [(upsert, email) for upsert, email in zip(upserts, emails, strict=True) if upsert.keep_phone == keep]
        if not part:
            continue
        rows = await run_sql(
            session,
            statement,
            {
                "tid": tenant_id,
                "ids": [str(uuid.uuid4()) for _ in part],
                "emails": [email for _, email in part],
                "hashes": [await email_hash(session, tenant_id, email) for _, email in part],
                "names": [upsert.name for upsert, _ in part],
                "phones": [None if keep else upsert.phone for upsert, _ in part],
            },
        )
        for row in rows:
            found[row.email] = (_record(row), bool(row.inserted))
    created = sum(1 for _, inserted in found.values() if inserted)
    return CustomerUpserts(created=created, updated=len(found) - created, records=[found[e][0] for e in emails])
