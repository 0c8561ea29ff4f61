"""Sign-in attempts of the console's OpenID Connect flow: what the callback needs, single use, in Redis.

An attempt is named by its `state` (a hash of it, so Redis holds nothing that would pass as a state) and
holds the PKCE verifier, the nonce, where to go afterwards, and a hash of the browser's binding cookie. The
callback takes it with GETDEL: a second use of the same `state` (a replayed redirect, a reload) finds
nothing, and a redirect carried to another browser does not match that browser's cookie. Attempts expire on
their own after `AIAAS_OIDC_ATTEMPT_SECONDS`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

_PREFIX = "console:oidc:attempt:"
MAX_STATE_CHARS = 128
BINDING_BYTES = 32


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_binding() -> str:
    """The value of the browser's binding cookie (HttpOnly, short-lived, sent only to the callback)."""
    return secrets.token_urlsafe(BINDING_BYTES)


@dataclass(frozen=True)
class Attempt:
    state: str
    nonce: str
    code_verifier: str
    next: str
    binding_digest: str

    def bound_to(self, binding: str | None) -> bool:
        return bool(binding) and hmac.compare_digest(self.binding_digest, _digest(binding or ""))


class SignInAttempts:
    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds

    async def start(self, *, binding: str, next: str) -> Attempt:
        attempt = Attempt(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            # RFC 7636: 43 to 128 characters of the unreserved set; 64 random bytes give 86.
            code_verifier=secrets.token_urlsafe(64),
            next=next,
            binding_digest=_digest(binding),
        )
        stored = {"nonce": attempt.nonce, "verifier": attempt.code_verifier, "next": next}
        stored["binding"] = attempt.binding_digest
        await self.redis.set(_PREFIX + _digest(attempt.state), json.dumps(stored), ex=self.ttl_seconds)
        return attempt

    async def take(self, state: str | None) -> Attempt | None:
        """The attempt `state` names, removed as it is read; None if unknown, expired or already taken."""
        if not state or len(state) > MAX_STATE_CHARS:
            return None
        raw = await self.redis.getdel(_PREFIX + _digest(state))
        if raw is None:
            return None
        stored = json.loads(raw)
        return Attempt(
            state=state,
            nonce=stored["nonce"],
            code_verifier=stored["verifier"],
            next=stored["next"],
            binding_digest=stored["binding"],
        )
