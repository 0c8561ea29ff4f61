"""Browser sessions of the console: a random id in a cookie, the credential it signed in with sealed in Redis.

A session holds the credential (API key or JWT) that signed in, not a principal: every request resolves it
again through the gateway's authenticator, so a revoked key, an expired token or a suspended tenant ends the
session at once, and the session can never do more than the credential does on the API.

What Redis holds is useless without the cookie: the entry's name is a hash of the session id, and the
credential is sealed (AES-256-GCM) under a key derived from the id, which only the browser has. The CSRF
token is derived from the id as well (an HMAC), so nothing else needs storing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

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


class WebSessions:
    """Open, read (sliding the expiry) and close console sessions in Redis."""

    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds

    async def open(self, credential: str) -> str:
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + AESGCM(_key(session_id)).encrypt(nonce, credential.encode(), _SEAL_LABEL)
        await self.redis.set(_name(session_id), sealed, ex=self.ttl_seconds)
        return session_id

    async def credential(self, session_id: str | None) -> str | None:
        """The credential behind the session; None for an unknown, expired or malformed id."""
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
        return opened.decode()

    async def close(self, session_id: str | None) -> None:
        if well_formed(session_id):
            assert session_id is not None
            await self.redis.delete(_name(session_id))
