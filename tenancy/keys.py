"""API key format, generation and hashing.

A key reads `ak_<prefix>_<secret>`. The prefix is public: it is stored in clear, indexed, and lets
authentication find the key before the tenant is known. The secret never leaves the response that created
it; only an HMAC of it under a server-side pepper is stored, so a leaked database alone cannot be turned into
working keys, and the secret's 256 bits of entropy make a slow password hash unnecessary.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from typing import NamedTuple

KEY_MARKER = "ak_"
PREFIX_LENGTH = 12
SECRET_BYTES = 32
# token_urlsafe(32) yields 43 characters; the upper bound keeps room for longer secrets later while refusing
# absurd inputs before any hashing happens.
SECRET_MIN_CHARS = 43
SECRET_MAX_CHARS = 128
MAX_TOKEN_CHARS = len(KEY_MARKER) + PREFIX_LENGTH + 1 + SECRET_MAX_CHARS

# Alphanumeric only, so the prefix never contains the `_` separator and reads unambiguously in logs.
_PREFIX_ALPHABET = string.ascii_letters + string.digits
_PREFIX_RE = re.compile(rf"[A-Za-z0-9]{{{PREFIX_LENGTH}}}")
_SECRET_RE = re.compile(rf"[A-Za-z0-9_-]{{{SECRET_MIN_CHARS},{SECRET_MAX_CHARS}}}")


class GeneratedKey(NamedTuple):
    full: str
    prefix: str
    secret: str


def generate_api_key() -> GeneratedKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return GeneratedKey(full=f"{KEY_MARKER}{prefix}_{secret}", prefix=prefix, secret=secret)


def parse_api_key(token: str) -> tuple[str, str] | None:
    """Split a presented token into (prefix, secret), or None unless it is exactly in our format."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.startswith(KEY_MARKER):
        return None
    body = token[len(KEY_MARKER) :]
    # Split by position, not by "_": the secret's alphabet contains "_" too.
    prefix = body[:PREFIX_LENGTH]
    separator = body[PREFIX_LENGTH : PREFIX_LENGTH + 1]
    secret = body[PREFIX_LENGTH + 1 :]
    if separator != "_" or not _PREFIX_RE.fullmatch(prefix) or not _SECRET_RE.fullmatch(secret):
        return None
    return prefix, secret


def hash_secret(secret: str, pepper: str) -> str:
    if not pepper:
        raise ValueError("an API key pepper is required")
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def verify_secret(secret: str, stored_hash: str, pepper: str) -> bool:
    expected = hash_secret(secret, pepper).encode()
    # Bytes, because compare_digest refuses non-ASCII str and a corrupt stored value must read as "no".
    return hmac.compare_digest(expected, stored_hash.encode())
