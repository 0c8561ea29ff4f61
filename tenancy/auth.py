"""API key authentication: a bearer token in, a `Principal` (or None) out.

The tenant is unknown until the key is found, and the app role can see no row without a tenant, so the
lookup goes through the `auth_lookup_api_key` security-definer function, which reveals one key row by its
public prefix and nothing else. Positive results are cached briefly in process, which is what keeps an
authenticated request free of database round trips; the price is that a revoked key or a suspended tenant
keeps working on a replica for at most `cache_seconds`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from tenancy.db import Database
from tenancy.keys import parse_api_key, verify_secret

log = logging.getLogger(__name__)

TOUCH_INTERVAL_SECONDS = 60.0
# Bounds memory when many distinct valid keys are in use; past it the cache is simply cleared.
MAX_CACHED_KEYS = 10_000
_LOOKUP = text(
    "SELECT key_id, tenant_id, secret_hash, scopes, expires_at, revoked_at, tenant_status "
    "FROM auth_lookup_api_key(:prefix)"
)
_NO_HASH = "0" * 64
_TOUCH = text("SELECT auth_touch_api_key(:key_id)")


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    key_id: str
    roles: tuple[str, ...] = ("owner",)
    scopes: tuple[str, ...] = ()


def _scopes(raw: object) -> tuple[str, ...]:
    if isinstance(raw, Iterable) and not isinstance(raw, str | bytes | dict):
        return tuple(str(scope) for scope in raw)
    return ()


class ApiKeyAuthenticator:
    def __init__(self, db: Database, pepper: str, cache_seconds: float = 5.0) -> None:
        if not pepper:
            raise ValueError("an API key pepper is required")
        self._db = db
        self._pepper = pepper
        self._cache_seconds = cache_seconds
        # sha256(token) -> (monotonic deadline, principal). Never the token itself: a heap dump of the
        # gateway must not hand out working keys.
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._last_touch: dict[str, float] = {}
        self._touches: set[asyncio.Task[None]] = set()

    async def authenticate(self, token: str) -> Principal | None:
        parsed = parse_api_key(token)
        if parsed is None:
            return None
        cache_key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(cache_key)
        if cached is not None:
            if cached[0] > now:
                self._maybe_touch(cached[1].key_id, now)
                return cached[1]
            self._cache.pop(cache_key, None)

        prefix, secret = parsed
        principal, valid_for = await self._lookup(prefix, secret)
        if principal is None:
            return None
        if self._cache_seconds > 0:
            if len(self._cache) >= MAX_CACHED_KEYS:
                self._cache.clear()
            self._cache[cache_key] = (now + min(self._cache_seconds, valid_for), principal)
        self._maybe_touch(principal.key_id, now)
        return principal

    async def _lookup(self, prefix: str, secret: str) -> tuple[Principal | None, float]:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(_LOOKUP, {"prefix": prefix})).first()
        # Verify before looking at anything else, so an unknown secret learns nothing about the key's state;
        # hash even for an unknown prefix, so timing does not tell which prefixes exist.
        stored_hash = row.secret_hash if row is not None else _NO_HASH
        if not verify_secret(secret, stored_hash, self._pepper) or row is None:
            return None, 0.0
        if row.revoked_at is not None or row.tenant_status != "active":
            return None, 0.0
        valid_for = float("inf")
        if row.expires_at is not None:
            valid_for = (row.expires_at - datetime.now(UTC)).total_seconds()
            if valid_for <= 0:
                return None, 0.0
        principal = Principal(tenant_id=row.tenant_id, key_id=row.key_id, scopes=_scopes(row.scopes))
        return principal, valid_for

    def _maybe_touch(self, key_id: str, now: float) -> None:
        last = self._last_touch.get(key_id)
        if last is not None and now - last < TOUCH_INTERVAL_SECONDS:
            return
        self._last_touch[key_id] = now
        if len(self._last_touch) > MAX_CACHED_KEYS:
            self._last_touch = {key_id: now}
        task = asyncio.get_running_loop().create_task(self._touch(key_id))
        # The loop keeps only weak references to tasks; hold one until it finishes.
        self._touches.add(task)
        task.add_done_callback(self._touches.discard)

    async def _touch(self, key_id: str) -> None:
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(_TOUCH, {"key_id": key_id})
        except Exception:
            # Bookkeeping only: a failed touch must never fail or slow down the request that caused it.
            log.warning("could not record API key use", extra={"key_id": key_id}, exc_info=True)

    def forget(self) -> None:
        """Drop cached results, e.g. right after revoking a key in this process."""
        self._cache.clear()

    async def close(self) -> None:
        """Wait for pending last-used updates, so shutdown does not cancel them midway."""
        if self._touches:
            await asyncio.gather(*self._touches, return_exceptions=True)
