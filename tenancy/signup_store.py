"""The `signups` and `mail_outbox` tables (migration 0019): platform rows, outside any tenant.

Every function is idempotent by its key, so a retried activity changes nothing the first attempt did:
a signup row by its id, an outbox message by its idempotency key, a send by the message's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.database import Database, run_sql
from db.ids import new_id


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    recipient: str
    subject: str
    body: str
    kind: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None


async def record_signup(db: Database, *, signup_id: str, email_digest: str, email: str, company: str) -> None:
    async with db.admin_session() as session:
        await run_sql(
            session,
            "INSERT INTO signups (id, email_digest, email, company) VALUES (:id, :d, :e, :c)"
            " ON CONFLICT (id) DO NOTHING",
            {"id": signup_id, "d": email_digest, "e": email, "c": company},
        )


async def has_tenant(db: Database, email_digest: str) -> bool:
    async with db.admin_session() as session:
        row = await run_sql(
            session,
            "SELECT 1 FROM signups WHERE email_digest = :d AND status = 'created' LIMIT 1",
            {"d": email_digest},
        )
        return row.first() is not None


async def finish_signup(db: Database, *, signup_id: str, status: str, tenant_id: str | None) -> None:
    async with db.admin_session() as session:
        await run_sql(
            session,
            "UPDATE signups SET status = :s, created_tenant_id = COALESCE(:t, created_tenant_id), updated_at = now()"
            " WHERE id = :id",
            {"id": signup_id, "s": status, "t": tenant_id},
        )


async def enqueue(db: Database, *, key: str, recipient: str, subject: str, body: str, kind: str) -> str:
    """Queue a message once per `key`; the id of the message, new or queued by an earlier attempt."""
    async with db.admin_session() as session:
        row = await run_sql(
            session,
            "INSERT INTO mail_outbox (id, idempotency_key, recipient, subject, body, kind)"
            " VALUES (:id, :k, :r, :s, :b, :kind) ON CONFLICT (idempotency_key) DO UPDATE"
            " SET idempotency_key = EXCLUDED.idempotency_key RETURNING id",
            {"id": new_id(), "k": key, "r": recipient, "s": subject, "b": body, "kind": kind},
        )
        return str(row.scalar_one())


def _message(row: object) -> OutboxMessage:
    return OutboxMessage(**dict(row._mapping))  # type: ignore[attr-defined]


async def get_message(db: Database, message_id: str) -> OutboxMessage | None:
    async with db.admin_session() as session:
        row = (
            await run_sql(
                session,
                "SELECT id, recipient, subject, body, kind, status, attempts, created_at, sent_at"
                " FROM mail_outbox WHERE id = :id",
                {"id": message_id},
            )
        ).first()
        return _message(row) if row is not None else None


async def mark_attempt(db: Database, message_id: str, *, sent: bool, error: str | None = None) -> None:
    """Count a try; a sent message keeps no body (it may hold a live link)."""
    sql = (
        "UPDATE mail_outbox SET status = 'sent', sent_at = now(), body = '', attempts = attempts + 1,"
        " last_error = NULL WHERE id = :id"
        if sent
        else "UPDATE mail_outbox SET attempts = attempts + 1, last_error = :e WHERE id = :id"
    )
    async with db.admin_session() as session:
        await run_sql(session, sql, {"id": message_id, "e": (error or "")[:500]})


async def list_messages(db: Database, *, limit: int = 50) -> list[OutboxMessage]:
    async with db.admin_session() as session:
        rows = await run_sql(
            session,
            "SELECT id, recipient, subject, body, kind, status, attempts, created_at, sent_at"
            " FROM mail_outbox ORDER BY created_at DESC, id LIMIT :n",
            {"n": limit},
        )
        return [_message(r) for r in rows]
