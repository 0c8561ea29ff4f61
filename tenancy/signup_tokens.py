"""Signed, expiring signup verification tokens: `v1.<payload>.<mac>`, HMAC-SHA256 under the platform secret.

The payload (base64url JSON) names the signup run by its email digest, the run's nonce and the expiry. A
token verifies only with its exact bytes (constant-time comparison), names one run (the nonce is drawn by
that run, so a token of another signup cannot act on this one), and its expiry is checked here and again
by the run's own timer. Reuse is refused by the run, which takes one verification only.

The key is derived from `AIAAS_SIGNUP_SECRET`, or from the API key pepper when unset (required in prod), with
a purpose label, so a signup token is never valid as anything else. The email digest is keyed the same way:
a run id names no address and cannot be guessed from one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

_VERSION = "v1"
MAX_TOKEN_CHARS = 512


class TokenInvalid(ValueError):
    """Malformed, altered or signed under another key."""


class TokenExpired(ValueError):
    """Well signed, but past its expiry."""


@dataclass(frozen=True)
class SignupToken:
    email_digest: str
    nonce: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_key(secret: str, purpose: str) -> bytes:
    if not secret:
        raise ValueError("a signup secret is required")
    return hmac.new(secret.encode(), f"aiaas-signup:{purpose}".encode(), hashlib.sha256).digest()


def email_digest(secret: str, email: str) -> str:
    """A keyed digest of the normalised address: the signup run's id and the duplicate check's key."""
    return hmac.new(derive_key(secret, "email"), email.strip().lower().encode(), hashlib.sha256).hexdigest()[:40]


def _mac(secret: str, signed: str) -> str:
    return _b64(hmac.new(derive_key(secret, "token"), signed.encode(), hashlib.sha256).digest())


def issue(secret: str, token: SignupToken) -> str:
    payload = {"d": token.email_digest, "n": token.nonce, "e": int(token.expires_at.timestamp())}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{_VERSION}.{body}"
    return f"{signed}.{_mac(secret, signed)}"


def verify(secret: str, text: str, *, now: datetime | None = None) -> SignupToken:
    """The token's claims; raises TokenInvalid (altered, malformed) or TokenExpired."""
    if not text or len(text) > MAX_TOKEN_CHARS:
        raise TokenInvalid("the token is malformed")
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise TokenInvalid("the token is malformed")
    signed = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_mac(secret, signed), parts[2]):
        raise TokenInvalid("the token's signature does not verify")
    try:
        claims = json.loads(_unb64(parts[1]))
        token = SignupToken(
            email_digest=str(claims["d"]),
            nonce=str(claims["n"]),
            expires_at=datetime.fromtimestamp(int(claims["e"]), UTC),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenInvalid("the token is malformed") from exc
    if (now or datetime.now(UTC)) >= token.expires_at:
        raise TokenExpired("the token has expired")
    return token
