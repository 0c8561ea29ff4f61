"""The webhook tables: endpoints, messages, deliveries and the attempt log, all under the tenant's session.

Every function takes a session bound to the tenant (`Database.tenant_session`), so row-level security keeps
one tenant's endpoints and deliveries invisible to another; an id of another tenant reads as missing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

# A rotated-out secret keeps signing beside the new one this long, so receivers can switch at leisure.
ROTATION_GRACE = timedelta(hours=24)
_ENDPOINT = (
    "id, url, description, event_types, secret_ciphertext, previous_secret_ciphertext, previous_secret_expires_at,"
    " enabled,"
    " disabled_reason, created_at"
)
_DELIVERY = "id, endpoint_id, message_id, status, attempts, last_status_code, created_at, finished_at"
# Fan-out's delivery ids are derived, so a retried publish finds the deliveries it made.
_DELIVERY_NAMESPACE = uuid.UUID("6f1de3a4-5bde-4c0e-9a51-5b0f3c0a9d11")


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


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(**dict(row._mapping))


def _delivery(row: Any) -> Delivery:
    return Delivery(**dict(row._mapping))


async def create_endpoint(
    session: AsyncSession,
    tenant_id: str,
    *,
    endpoint_id: str,
    sealed_secret: bytes,
    url: str,
    description: str,
    event_types: list[str],
) -> Endpoint:
    """Insert an endpoint whose secret `webhooks.secrets.EndpointSecrets.issue` sealed for this id."""
    row = (
        await run_sql(
            session,
            "INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, secret_ciphertext)"  # noqa: S608
            f" VALUES (:t, :id, :url, :d, :types, :secret) RETURNING {_ENDPOINT}",
            {
                "t": tenant_id,
                "id": endpoint_id,
                "url": url,
                "d": description,
                "types": event_types,
                "secret": sealed_secret,
            },
        )
    ).one()
    return _endpoint(row)


async def list_endpoints(
    session: AsyncSession, tenant_id: str, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[Endpoint]:
    where, params = "tenant_id = :t", {"t": tenant_id, "n": limit}
    if after is not None:
        where += " AND (created_at, id) > (:c, :i)"
        params |= {"c": after[0], "i": after[1]}
    sql = f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE {where} ORDER BY created_at, id LIMIT :n"  # noqa: S608
    return [_endpoint(r) for r in (await run_sql(session, sql, params)).all()]


async def get_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str) -> Endpoint | None:
    row = (
        await run_sql(
            session,
            f"SELECT {_ENDPOINT} FROM webhook_endpoints WHERE tenant_id = :t AND id = :id",  # noqa: S608
            {"t": tenant_id, "id": endpoint_id},
        )
    ).first()
    return _endpoint(row) if row is not None else None


async def update_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str, **changes: Any) -> Endpoint | None:
    """Set the given columns (url, description, event_types, enabled); enabling clears the disabled reason."""
    allowed = {"url", "description", "event_types", "enabled"}
    if not changes:
        return await get_endpoint(session, tenant_id, endpoint_id)
    if not set(changes) <= allowed:
        raise ValueError(f"unknown fields {sorted(set(changes) - allowed)}")
    sets = ", ".join(f"{name} = :{name}" for name in changes)
    if changes.get("enabled") is True:
        sets += ", disabled_reason = NULL"
    row = (
        await run_sql(
            session,
            f"UPDATE webhook_endpoints SET {sets} WHERE tenant_id = :t AND id = :id RETURNING {_ENDPOINT}",  # noqa: S608
            {"t": tenant_id, "id": endpoint_id, **changes},
        )
    ).first()
    return _endpoint(row) if row is not None else None


async def disable_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str, reason: str) -> None:
    await run_sql(
        session,
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = :r WHERE tenant_id = :t AND id = :id",
        {"t": tenant_id, "id": endpoint_id, "r": reason},
    )


async def delete_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str) -> bool:
    result = await run_sql(
        session, "DELETE FROM webhook_endpoints WHERE tenant_id = :t AND id = :id", {"t": tenant_id, "id": endpoint_id}
    )
    return bool(getattr(result, "rowcount", 0))


async def rotate_secret(
    session: AsyncSession, tenant_id: str, endpoint_id: str, sealed_secret: bytes, now: datetime
) -> Endpoint | None:
    """Make `sealed_secret` (sealed for this endpoint) current; the old one keeps signing for the grace."""
    row = (
        await run_sql(
            session,
            "UPDATE webhook_endpoints SET previous_secret_ciphertext = secret_ciphertext,"  # noqa: S608
            " previous_secret_expires_at = :until, secret_ciphertext = :secret WHERE tenant_id = :t AND id = :id"
            f" RETURNING {_ENDPOINT}",
            {"t": tenant_id, "id": endpoint_id, "secret": sealed_secret, "until": now + ROTATION_GRACE},
        )
    ).first()
    return _endpoint(row) if row is not None else None


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
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{message_id}/{endpoint_id}"))


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
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE tenant_id = :t AND id = :id",  # noqa: S608
            {"t": tenant_id, "id": delivery_id},
        )
    ).first()
    return _delivery(row) if row is not None else None


async def list_deliveries(
    session: AsyncSession,
    tenant_id: str,
    *,
    limit: int,
    endpoint_id: str | None = None,
    after: tuple[datetime, str] | None = None,
) -> list[Delivery]:
    where, params = "tenant_id = :t", {"t": tenant_id, "n": limit}
    if endpoint_id is not None:
        where += " AND endpoint_id = :e"
        params["e"] = endpoint_id
    if after is not None:
        where += " AND (created_at, id) < (:c, :i)"
        params |= {"c": after[0], "i": after[1]}
    sql = f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE {where} ORDER BY created_at DESC, id DESC LIMIT :n"  # noqa: S608
    return [_delivery(r) for r in (await run_sql(session, sql, params)).all()]


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


async def list_attempts(session: AsyncSession, tenant_id: str, delivery_id: str) -> list[dict[str, Any]]:
    rows = (
        await run_sql(
            session,
            "SELECT attempt, outcome, status_code, error, duration_ms, created_at FROM webhook_attempts"
            " WHERE tenant_id = :t AND delivery_id = :d ORDER BY attempt",
            {"t": tenant_id, "d": delivery_id},
        )
    ).all()
    return [dict(r._mapping) for r in rows]


async def finish_delivery(session: AsyncSession, tenant_id: str, delivery_id: str, status: str, attempts: int) -> None:
    await run_sql(
        session,
        "UPDATE webhook_deliveries SET status = :s, attempts = greatest(attempts, :a), finished_at = now()"
        " WHERE tenant_id = :t AND id = :d",
        {"t": tenant_id, "d": delivery_id, "s": status, "a": attempts},
    )
