"""The webhook tables: endpoints, messages, deliveries and the attempt log, all under the tenant's session.
Here the rows and what a publish and a delivery run read and write; what the API changes and lists (creating,
changing and deleting endpoints, rotating a secret, the delivery log) is in `webhooks.management`.

Every function takes a session bound to the tenant (`Database.tenant_session`), so row-level security keeps
one tenant's endpoints and deliveries invisible to another; an id of another tenant reads as missing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

ENDPOINT_COLUMNS = (
    "id, url, description, event_types, secret_ciphertext, previous_secret_ciphertext, previous_secret_expires_at,"
    " enabled,"
    " disabled_reason, created_at"
)
DELIVERY_COLUMNS = "id, endpoint_id, message_id, status, attempts, last_status_code, created_at, finished_at"
# Fan-out's delivery ids are derived, so a retried publish finds the deliveries it made.
DELIVERY_COLUMNS_NS_TMP = uuid.UUID("6f1de3a4-5bde-4c0e-9a51-5b0f3c0a9d11")


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    description: str
    event_types: list[str]
    secret_ciphertext: bytes
    previous_secret_ciphertext: bytes | None
    previous_secret_expires_at: datetime | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime

    def __repr__(self) -> str:
        return f"Endpoint({self.id!r}, {self.url!r}, enabled={self.enabled})"

    def sealed_secrets_at(self, now: datetime) -> list[bytes]:
        """The sealed secrets to sign with now: the current one, and the previous one while its grace lasts."""
        live = [bytes(self.secret_ciphertext)]
        previous, until = self.previous_secret_ciphertext, self.previous_secret_expires_at
        if previous is not None and until is not None and until > now:
            live.append(bytes(previous))
        return live

    def wants(self, event_type: str) -> bool:
        return self.enabled and (not self.event_types or event_type in self.event_types)


@dataclass(frozen=True)
class Delivery:
    id: str
    endpoint_id: str
    message_id: str
    status: str
    attempts: int
    last_status_code: int | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Message:
    id: str
    event_type: str
    payload: str
    created_at: datetime


def endpoint_row(row: Any) -> Endpoint:
    return Endpoint(**dict(row._mapping))


def delivery_row(row: Any) -> Delivery:
    return Delivery(**dict(row._mapping))


async def list_endpoints(
    session: AsyncSession, tenant_id: str, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[Endpoint]:
    where, params = "tenant_id = :t", {"t": tenant_id, "n": limit}
    if after is not None:
        where += " AND (created_at, id) > (:c, :i)"
        params |= {"c": after[0], "i": after[1]}
    sql = f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {where} ORDER BY created_at, id LIMIT :n"  # noqa: S608
    return [endpoint_row(r) for r in (await run_sql(session, sql, params)).all()]


async def get_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str) -> Endpoint | None:
    row = (
        await run_sql(
            session,
            f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = :t AND id = :id",  # noqa: S608
            {"t": tenant_id, "id": endpoint_id},
        )
    ).first()
    return endpoint_row(row) if row is not None else None


async def disable_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str, reason: str) -> None:
    await run_sql(
        session,
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = :r WHERE tenant_id = :t AND id = :id",
        {"t": tenant_id, "id": endpoint_id, "r": reason},
    )


async def record_message(
    session: AsyncSession, tenant_id: str, *, event_type: str, idempotency_key: str, payload: dict[str, Any]
) -> str:
    """The message's id: a new one, or the one an earlier publish with the same key made."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)
    params = {"t": tenant_id, "id": "msg_" + uuid.uuid4().hex, "e": event_type, "k": idempotency_key, "p": body}
    await run_sql(
        session,
        "INSERT INTO webhook_messages (tenant_id, id, event_type, idempotency_key, payload)"
        " VALUES (:t, :id, :e, :k, :p) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
        params,
    )
    row = (
        await run_sql(
            session,
            "SELECT id FROM webhook_messages WHERE tenant_id = :t AND idempotency_key = :k",
            {"t": tenant_id, "k": idempotency_key},
        )
    ).one()
    return str(row.id)


async def get_message(session: AsyncSession, tenant_id: str, message_id: str) -> Message | None:
    row = (
        await run_sql(
            session,
            "SELECT id, event_type, payload, created_at FROM webhook_messages WHERE tenant_id = :t AND id = :id",
            {"t": tenant_id, "id": message_id},
        )
    ).first()
    return Message(**dict(row._mapping)) if row is not None else None


def fan_out_delivery_id(message_id: str, endpoint_id: str) -> str:
    return str(uuid.uuid5(DELIVERY_COLUMNS_NS_TMP, f"{message_id}/{endpoint_id}"))


async def create_delivery(
    session: AsyncSession, tenant_id: str, *, endpoint_id: str, message_id: str, delivery_id: str
) -> None:
    await run_sql(
        session,
        "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, message_id) VALUES (:t, :id, :e, :m)"
        " ON CONFLICT (tenant_id, id) DO NOTHING",
        {"t": tenant_id, "id": delivery_id, "e": endpoint_id, "m": message_id},
    )


async def get_delivery(session: AsyncSession, tenant_id: str, delivery_id: str) -> Delivery | None:
    row = (
        await run_sql(
            session,
            f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = :t AND id = :id",  # noqa: S608
            {"t": tenant_id, "id": delivery_id},
        )
    ).first()
    return delivery_row(row) if row is not None else None


async def record_attempt(
    session: AsyncSession,
    tenant_id: str,
    delivery_id: str,
    *,
    attempt: int,
    outcome: str,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    """Log one attempt; a retried activity for the same attempt replaces its own line."""
    params = {
        "t": tenant_id,
        "d": delivery_id,
        "a": attempt,
        "o": outcome,
        "s": status_code,
        "e": (error or "")[:500] or None,
        "ms": duration_ms,
    }
    await run_sql(
        session,
        "INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, outcome, status_code, error, duration_ms)"
        " VALUES (:t, :d, :a, :o, :s, :e, :ms) ON CONFLICT (tenant_id, delivery_id, attempt) DO UPDATE SET"
        " outcome = excluded.outcome, status_code = excluded.status_code, error = excluded.error,"
        " duration_ms = excluded.duration_ms, created_at = now()",
        params,
    )
    await run_sql(
        session,
        "UPDATE webhook_deliveries SET attempts = greatest(attempts, :a), last_status_code = :s"
        " WHERE tenant_id = :t AND id = :d",
        {"t": tenant_id, "d": delivery_id, "a": attempt, "s": status_code},
    )


async def finish_delivery(session: AsyncSession, tenant_id: str, delivery_id: str, status: str, attempts: int) -> None:
    await run_sql(
        session,
        "UPDATE webhook_deliveries SET status = :s, attempts = greatest(attempts, :a), finished_at = now()"
        " WHERE tenant_id = :t AND id = :d",
        {"t": tenant_id, "d": delivery_id, "s": status, "a": attempts},
    )
