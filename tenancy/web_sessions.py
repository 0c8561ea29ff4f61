"""Browser sessions of the console: a random id in a cookie, the credential it signed in with sealed in Redis.

A session holds the credential (API key or JWT) that signed in, not a principal: every request resolves it
again through the gateway's authenticator, so a revoked key, an expired token or a suspended tenant ends the
session at once, and the session can never do more than the credential does on the API.

What Redis holds is useless without the cookie: the entry's name is a hash of the session id, and the
credential is sealed (AES-256-GCM) under a key derived from the id, which only the browser has. The CSRF
token is derived from the id as well (an HMAC), so nothing else needs storing.

A session opened by the OpenID Connect sign-in holds the provider's ID token instead (`SessionEntry.kind`
"oidc"), checked on every request for the console client's audience. Without a refresh token its entry never
outlives the ID token (the sliding expiry stops at the token's `exp`); with one (sealed in the same entry) it
slides like a key session, and the ID token is renewed before it expires (`tenancy.oidc_sessions`). The
entry also keeps the tenant the person chose, when their token names none (`tenant_id`).
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
    # An OpenID Connect session's refresh token, when the provider issued one.
    refresh_token: str | None = None
    # The tenant the person chose on the picker, for an ID token that names none (re-checked on every request).
    tenant_id: str | None = None


def _encode(entry: SessionEntry) -> bytes:
    if entry.kind == "credential":
        return entry.credential.encode()
    # An API key or a JWT never starts with `{`, so the two layouts cannot be confused.
    stored: dict[str, object] = {"kind": entry.kind, "token": entry.credential, "exp": entry.expires_at}
    if entry.refresh_token is not None:
        stored["refresh"] = entry.refresh_token
    if entry.tenant_id is not None:
        stored["tenant"] = entry.tenant_id
    return json.dumps(stored).encode()


def _decode(opened: bytes) -> SessionEntry | None:
    if not opened.startswith(b"{"):
        return SessionEntry(opened.decode())
    try:
        stored = json.loads(opened)
        refresh, tenant = stored.get("refresh"), stored.get("tenant")
        return SessionEntry(
            str(stored["token"]),
            kind=str(stored["kind"]),
            expires_at=float(stored["exp"]),
            refresh_token=str(refresh) if refresh is not None else None,
            tenant_id=str(tenant) if tenant is not None else None,
        )
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
        await self.store(session_id, entry)
        return session_id

    async def store(self, session_id: str, entry: SessionEntry, *, replace: bool = False) -> bool:
        """Seal `entry` under the session's id: a new session, or (`replace`) a renewed token or a chosen
        tenant in one that still exists, so a session signed out meanwhile is not brought back."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + AESGCM(_key(session_id)).encrypt(nonce, _encode(entry), _SEAL_LABEL)
        return bool(await self.redis.set(_name(session_id), sealed, ex=self.lifetime(entry), xx=replace))

    def lifetime(self, entry: SessionEntry) -> int:
        """Seconds the session may stay unused: the configured time, cut short by its token's expiry unless
        a refresh token can renew the token."""
        if entry.expires_at is None or entry.refresh_token is not None:
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
        if entry is not None and entry.expires_at is not None and entry.refresh_token is None:
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

    async def lock(self, session_id: str, seconds: float) -> bool:
        """Take the session's renewal lock (one refresh at a time); False when another request holds it."""
        taken = await self.redis.set(_name(session_id) + ":renewing", b"1", nx=True, px=int(seconds * 1000))
        return bool(taken)

    async def unlock(self, session_id: str) -> None:
        await self.redis.delete(_name(session_id) + ":renewing")
