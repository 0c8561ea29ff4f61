"""The database side of `aiaas keys`: each call opens a pool on the app role, binds one transaction to the
tenant (row-level security applies, as for the gateway) and closes the pool again."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from core.settings import Settings
from db.database import Database
from tenancy import api_keys
from tenancy.api_keys import ApiKey, IssuedKey
from tenancy.tenant_admin import TenantNotFound, get_tenant


@contextlib.asynccontextmanager
async def _tenant_db(settings: Settings, tenant_id: str, *, issuing: bool = False) -> AsyncIterator[Database]:
    db = Database(settings.resolved_app_database_url(), pool_size=1)
    try:
        try:
            tenant = await get_tenant(db, tenant_id)
        except TenantNotFound as exc:
            raise RuntimeError(f"no tenant with id {tenant_id} (see `aiaas tenant list`)") from exc
        if issuing and tenant.status == "offboarding":
            raise RuntimeError(f"tenant {tenant_id} is being offboarded; it gets no new keys")
        yield db
    finally:
        await db.close()


async def list_keys(settings: Settings, tenant_id: str, *, include_inactive: bool) -> list[ApiKey]:
    async with _tenant_db(settings, tenant_id) as db, db.tenant_session(tenant_id) as session:
        return await api_keys.list_keys(session, include_inactive=include_inactive)


async def create_key(
    settings: Settings,
    tenant_id: str,
    name: str,
    role: str,
    scopes: Sequence[str],
    expires_at: datetime | None,
    actor: str,
) -> IssuedKey:
    """Raises ValueError for a role or scope the API would refuse too."""
    async with _tenant_db(settings, tenant_id, issuing=True) as db, db.tenant_session(tenant_id) as session:
        return await api_keys.issue_key(
            session,
            tenant_id=tenant_id,
            name=name,
            role=role,
            scopes=list(scopes),
            expires_at=expires_at,
            pepper=settings.api_key_pepper.get_secret_value(),
            actor=actor,
        )


async def revoke_key(settings: Settings, tenant_id: str, key_id: str, actor: str) -> str:
    """Revoke the key and tell the gateways; returns what happened, in words."""
    async with _tenant_db(settings, tenant_id) as db, db.tenant_session(tenant_id) as session:
        row = await api_keys.find_key(session, key_id, for_update=True)
        if row is None:
            raise RuntimeError(f"tenant {tenant_id} has no key with id {key_id} (see `aiaas keys list`)")
        revoked = await api_keys.revoke_key(session, row, actor=actor)
    if not revoked:
        return f"key {key_id} was already revoked"
    return f"revoked key {key_id}" + await _announce(settings, key_id)


async def _announce(settings: Settings, key_id: str) -> str:
    """Drop the key from every gateway's auth cache; committed either way, so failing here only delays it."""
    from redis.asyncio import Redis

    from tenancy.auth_cache import publish_invalidation

    if not settings.redis_url:
        return f"; gateways stop accepting it within {settings.auth_cache_seconds:g} s (no Redis to tell them)"
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        await publish_invalidation(redis, key_id=key_id)
    except Exception:
        return f"; gateways stop accepting it within {settings.auth_cache_seconds:g} s (Redis did not answer)"
    finally:
        await redis.aclose()
    return ""
