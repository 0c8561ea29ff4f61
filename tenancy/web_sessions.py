"""Browser sessions of the console: a random id in a cookie, the credential it signed in with sealed in Redis.

A session holds the credential (API key or JWT) that signed in, not a principal: every request resolves it
again through the gateway's authenticator, so a revoked key, an expired token or a suspended tenant ends the
session at once, and the session can never do more than the credential does on the API.

What Redis holds is useless without the cookie: the entry's name is a hash of the session id, and the
credential is sealed (AES-256-GCM) under a key derived from the id, which only the browser has. The CSRF
token is derived from the id as well (an HMAC), so nothing else needs storing.

A session opened by the OpenID Connect sign-in holds the provider's ID token instead (`SessionEntry.kind`
"oidc"), checked on every request for the console client's audience; its entry never outlives the token
(the sliding expiry stops at the token's `exp`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis

SESSION_ID_BYTES = 32
MAX_SESSION_ID_CHARS = 64
_NONCE_BYTES = 12
_PREFIX = "console:session:"
_SEAL_LABEL = b"aiaas/console/seal"
_CSRF_LABEL = b"aiaas/console/csrf"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _name(session_id: str) -> str:
    return _PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


def _key(session_id: str) -> bytes:
    return hmac.new(session_id.encode(), _SEAL_LABEL, hashlib.sha256).digest()


def csrf_token(session_id: str) -> str:
    """The token every form of this session must send back; bound to the session, useless without it."""
    return _b64(hmac.new(session_id.encode(), _CSRF_LABEL, hashlib.sha256).digest())


def csrf_matches(session_id: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(session_id), sent or "")


def well_formed(session_id: str | None) -> bool:
    return bool(session_id) and len(session_id or "") <= MAX_SESSION_ID_CHARS


@dataclass(frozen=True)
class SessionEntry:
    """What a session holds: a credential the API accepts (`kind` "credential"), or an ID token ("oidc")."""

    credential: str
    kind: str = "credential"
    expires_at: float | None = None


def _encode(entry: SessionEntry) -> bytes:
    if entry.kind == "credential":
        return entry.credential.encode()
    # An API key or a JWT never starts with `{`, so the two layouts cannot be confused.
    return json.dumps({"kind": entry.kind, "token": entry.credential, "exp": entry.expires_at}).encode()


def _decode(opened: bytes) -> SessionEntry | None:
    if not opened.startswith(b"{"):
        return SessionEntry(opened.decode())
    try:
        stored = json.loads(opened)
        return SessionEntry(str(stored["token"]), kind=str(stored["kind"]), expires_at=float(stored["exp"]))
    except (ValueError, KeyError, TypeError):
        return None


class WebSessions:
    """Open, read (sliding the expiry) and close console sessions in Redis."""

    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds

    async def open(self, credential: str) -> str:
        return await self.open_entry(SessionEntry(credential))

    async def open_entry(self, entry: SessionEntry) -> str:
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + AESGCM(_key(session_id)).encrypt(nonce, _encode(entry), _SEAL_LABEL)
        await self.redis.set(_name(session_id), sealed, ex=self.lifetime(entry))
        return session_id

    def lifetime(self, entry: SessionEntry) -> int:
        """Seconds the session may stay unused: the configured time, cut short by its token's expiry."""
        if entry.expires_at is None:
            return self.ttl_seconds
        return max(1, min(self.ttl_seconds, math.ceil(entry.expires_at - time.time())))

    async def credential(self, session_id: str | None) -> str | None:
        """The credential behind the session; None for an unknown, expired or malformed id."""
        entry = await self.entry(session_id)
        return entry.credential if entry is not None else None

    async def entry(self, session_id: str | None) -> SessionEntry | None:
        """What the session holds; None for an unknown, expired or malformed id."""
        if not well_formed(session_id):
            return None
        assert session_id is not None
        sealed = await self.redis.getex(_name(session_id), ex=self.ttl_seconds)
        if not isinstance(sealed, bytes) or len(sealed) <= _NONCE_BYTES:
            return None
        try:
            opened = AESGCM(_key(session_id)).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _SEAL_LABEL)
        except InvalidTag:
            return None
        entry = _decode(opened)
        if entry is not None and entry.expires_at is not None:
            if entry.expires_at <= time.time():
                await self.redis.delete(_name(session_id))
                return None
            # The read slid the expiry by the full session time; a token's session stops at the token's.
            await self.redis.expire(_name(session_id), self.lifetime(entry))
        return entry

    async def close(self, session_id: str | None) -> None:
        if well_formed(session_id):
            assert session_id is not None
            await self.redis.delete(_name(session_id))
