"""What the API changes and lists in the webhook tables: creating, changing and deleting endpoints, rotating
an endpoint's signing secret, and the delivery log with its attempts. Under the tenant's session, like
`webhooks.store`, whose rows these return.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from webhooks.store import (
    DELIVERY_COLUMNS,
    ENDPOINT_COLUMNS,
    Delivery,
    Endpoint,
    delivery_row,
    endpoint_row,
    get_endpoint,
)

# A rotated-out secret keeps signing beside the new one this long, so receivers can switch at leisure.
ROTATION_GRACE = timedelta(hours=24)


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
            f" VALUES (:t, :id, :url, :d, :types, :secret) RETURNING {ENDPOINT_COLUMNS}",
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
    return endpoint_row(row)


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
            f"UPDATE webhook_endpoints SET {sets} WHERE tenant_id = :t AND id = :id RETURNING {ENDPOINT_COLUMNS}",  # noqa: S608
            {"t": tenant_id, "id": endpoint_id, **changes},
        )
    ).first()
    return endpoint_row(row) if row is not None else None


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
            f" RETURNING {ENDPOINT_COLUMNS}",
            {"t": tenant_id, "id": endpoint_id, "secret": sealed_secret, "until": now + ROTATION_GRACE},
        )
    ).first()
    return endpoint_row(row) if row is not None else None


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
    sql = f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {where} ORDER BY created_at DESC, id DESC LIMIT :n"  # noqa: S608
    return [delivery_row(r) for r in (await run_sql(session, sql, params)).all()]


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
