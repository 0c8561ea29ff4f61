"""Authentication: a bearer token (an API key or a JWT) in, a `Principal` (or None) out.

For an API key the tenant is unknown until the key is found, and the app role can see no row without a
tenant, so the lookup goes through the `auth_lookup_api_key` security-definer function, which reveals one key
row by its public prefix and nothing else. A JWT is verified first; its tenant's status (and, where the
token carries no roles, the user's membership) then comes from `auth_lookup_identity`. Positive results are
cached in process (`tenancy.auth_cache`), which keeps an authenticated request free of database round trips;
revocations and suspensions reach every replica's cache through Redis.

`resolve` also says when credentials that would otherwise work belong to a suspended tenant, so its users can
be told that instead of being sent to look for a typo in their key; it says so only once the key's secret or
the token's signature has checked out, so nobody learns a tenant's state from a key they do not hold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import text

from db.database import Database
from tenancy.auth_cache import PrincipalCache, token_digest
from tenancy.jwt import JwtVerifier, TokenClaims
from tenancy.keys import parse_api_key, verify_secret
from tenancy.permissions import PLATFORM_ROLES, TENANT_ROLES
from tenancy.principal import Principal, make_principal

log = logging.getLogger(__name__)

TOUCH_INTERVAL_SECONDS = 60.0
MAX_TOUCHED_KEYS = 10_000
_LOOKUP_KEY = text(
    "SELECT key_id, tenant_id, secret_hash, scopes, expires_at, revoked_at, tenant_status, role "
    "FROM auth_lookup_api_key(:prefix)"
)
_LOOKUP_IDENTITY = text(
    "SELECT tenant_status, tenant_role, platform_role FROM auth_lookup_identity(:subject, :tenant_id)"
)
_NO_HASH = "0" * 64
_TOUCH = text("SELECT auth_touch_api_key(:key_id)")
_ID_TOKEN_LABEL = "console-id-token:"


class Refusal(StrEnum):
    TENANT_SUSPENDED = "tenant_suspended"


def _strings(raw: object) -> tuple[str, ...]:
    if isinstance(raw, Iterable) and not isinstance(raw, str | bytes | dict):
        return tuple(str(item) for item in raw)
    return ()


def _refusal(tenant_status: str | None) -> Refusal | None:
    # An offboarding tenant is on its way out; its credentials count as gone, like the tenant soon will be.
    return Refusal.TENANT_SUSPENDED if tenant_status == "suspended" else None


class ApiKeyAuthenticator:
    """Authenticates API keys, and JWTs once a verifier is attached with `use_jwt`."""

    def __init__(self, db: Database, pepper: str, cache_seconds: float = 5.0) -> None:
        if not pepper:
            raise ValueError("an API key pepper is required")
        self._db = db
        self._pepper = pepper
        self.cache = PrincipalCache(cache_seconds)
        self.jwt: JwtVerifier | None = None
        self._last_touch: dict[str, float] = {}
        self._touches: set[asyncio.Task[None]] = set()

    def use_jwt(self, verifier: JwtVerifier | None) -> None:
        self.jwt = verifier if verifier is not None and verifier.enabled else None

    async def authenticate(self, token: str) -> Principal | None:
        resolved = await self.resolve(token)
        return resolved if isinstance(resolved, Principal) else None

    async def resolve(self, token: str) -> Principal | Refusal | None:
        """The principal; a `Refusal` for valid credentials that may not act now; None for invalid ones."""
        parsed = parse_api_key(token)
        verifier = self.jwt
        if parsed is None and verifier is None:
            return None
        digest = token_digest(token)
        cached = self.cache.get(digest)
        if cached is not None:
            if cached.key_id is not None:
                self._maybe_touch(cached.key_id)
            return cached
        generation = self.cache.generation
        if parsed is not None:
            principal, valid_for = await self._lookup_key(*parsed)
        else:
            assert verifier is not None
            principal, valid_for = await self._verify_jwt(verifier, token)
        if not isinstance(principal, Principal):
            return principal
        self.cache.put(digest, principal, valid_for=valid_for, generation=generation)
        if principal.key_id is not None:
            self._maybe_touch(principal.key_id)
        return principal

    async def resolve_claims(self, token: str, claims: TokenClaims) -> Principal | Refusal | None:
        """A token verified elsewhere (a console session's ID token, for the console client's audience),
        decided exactly as a Bearer JWT with these claims would be: tenant and roles from the claims, the
        membership and platform role from the database where the token leaves them out.

        Cached under a digest of its own, so a token verified for the console is never taken from the cache
        by the API, which checks its own audience.
        """
        # The tenant too: a token naming none is decided for the tenant its person chose in the console.
        digest = token_digest(f"{_ID_TOKEN_LABEL}{claims.tenant_id or ''}:{token}")
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        generation = self.cache.generation
        principal = await self._resolve(claims)
        if isinstance(principal, Principal):
            self.cache.put(digest, principal, valid_for=claims.expires_at - time.time(), generation=generation)
        return principal

    async def _lookup_key(self, prefix: str, secret: str) -> tuple[Principal | Refusal | None, float]:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(_LOOKUP_KEY, {"prefix": prefix})).first()
        # Verify before looking at anything else, so an unknown secret learns nothing about the key's state;
        # hash even for an unknown prefix, so timing does not tell which prefixes exist.
        stored_hash = row.secret_hash if row is not None else _NO_HASH
        if not verify_secret(secret, stored_hash, self._pepper) or row is None:
            return None, 0.0
        if row.revoked_at is not None:
            return None, 0.0
        valid_for = float("inf")
        if row.expires_at is not None:
            valid_for = (row.expires_at - datetime.now(UTC)).total_seconds()
            if valid_for <= 0:
                return None, 0.0
        if row.tenant_status != "active":
            return _refusal(row.tenant_status), 0.0
        principal = make_principal(
            tenant_id=row.tenant_id,
            key_id=row.key_id,
            subject=f"apikey:{row.key_id}",
            roles=(row.role,),
            scopes=_strings(row.scopes),
        )
        return principal, valid_for

    async def _verify_jwt(self, verifier: JwtVerifier, token: str) -> tuple[Principal | Refusal | None, float]:
        claims = await verifier.verify(token)
        if claims is None:
            return None, 0.0
        principal = await self._resolve(claims)
        return principal, claims.expires_at - time.time()

    async def _resolve(self, claims: TokenClaims) -> Principal | Refusal | None:
        """Claims win; the database fills in what the token leaves out, and vouches for the tenant."""
        roles = claims.roles
        platform_role = claims.platform_role
        if claims.tenant_id is not None or platform_role is None:
            async with self._db.engine.connect() as conn:
                row = (
                    await conn.execute(_LOOKUP_IDENTITY, {"subject": claims.subject, "tenant_id": claims.tenant_id})
                ).one()
            if claims.tenant_id is not None and row.tenant_status != "active":
                return _refusal(row.tenant_status)
            if roles is None:
                roles = (row.tenant_role,) if row.tenant_role else ()
            platform_role = platform_role or row.platform_role
        if platform_role not in PLATFORM_ROLES:
            platform_role = None
        if claims.tenant_id is None and platform_role is None:
            return None
        return make_principal(
            tenant_id=claims.tenant_id,
            subject=claims.subject,
            roles=tuple(role for role in roles or () if role in TENANT_ROLES),
            scopes=claims.scopes,
            platform_role=platform_role,
        )

    def _maybe_touch(self, key_id: str) -> None:
        now = time.monotonic()
        last = self._last_touch.get(key_id)
        if last is not None and now - last < TOUCH_INTERVAL_SECONDS:
            return
        self._last_touch[key_id] = now
        if len(self._last_touch) > MAX_TOUCHED_KEYS:
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

    def forget(self, *, tenant_id: str | None = None, key_id: str | None = None) -> None:
        """Drop cached principals of `tenant_id` and of `key_id`; with neither, all of them."""
        self.cache.forget(tenant_id=tenant_id, key_id=key_id)

    async def close(self) -> None:
        """Wait for pending last-used updates, so shutdown does not cancel them midway."""
        if self._touches:
            await asyncio.gather(*self._touches, return_exceptions=True)
