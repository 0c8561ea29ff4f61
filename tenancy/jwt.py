"""Bearer JWT verification: HMAC with a shared secret for dev, RSA/ECDSA public keys for production.

The key is chosen by the algorithm family before any signature is checked, and the algorithm a token
declares must be on the allow-list: an HMAC token is only ever checked against the configured secret,
never against a public key (the classic HS/RS confusion), and `none` is never accepted. Public keys come
from a JWKS URL (cached; refetched, at a bounded rate, when a token names an unknown key id) or settings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

from core.settings import Settings
from tenancy.jwt_keys import HMAC, KeySet, key_fits, load_public_keys

log = logging.getLogger(__name__)

MAX_SUBJECT_CHARS = 255
MAX_TENANT_ID_CHARS = 64
MAX_EMAIL_CHARS = 320
MAX_NAME_CHARS = 200
DEV_SECRET_FILE = "jwt-dev-secret"
_DECODE_OPTIONS: dict[str, Any] = {"require": ["exp", "sub"], "enforce_minimum_key_length": True}


@dataclass(frozen=True)
class JwtConfig:
    algorithms: frozenset[str]
    secret: str | None = None
    jwks_url: str | None = None
    # key id -> public key, loaded once.
    public_keys: Mapping[str, Any] = field(default_factory=dict)
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: float = 30.0
    jwks_cache_seconds: float = 300.0
    jwks_min_refresh_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtConfig:
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret is not None else None
        if secret is None and settings.env != "prod":
            secret = dev_secret(Path(settings.data_dir))
        return cls(
            algorithms=frozenset(settings.jwt_algorithms),
            secret=secret,
            jwks_url=settings.jwt_jwks_url,
            public_keys=load_public_keys(settings.jwt_public_keys),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
            jwks_cache_seconds=settings.jwks_cache_seconds,
            jwks_min_refresh_seconds=settings.jwks_min_refresh_seconds,
        )


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token asserts. `roles` and `platform_role` are None when the claim is absent."""

    subject: str
    tenant_id: str | None
    roles: tuple[str, ...] | None
    platform_role: str | None
    scopes: tuple[str, ...]
    expires_at: float
    # OpenID Connect's `email`, and whether the provider says it verified it (`email_verified: true`).
    email: str | None = None
    email_verified: bool = False
    # OpenID Connect's `name`: how the person is shown.
    name: str | None = None


def dev_secret(data_dir: Path) -> str:
    """The dev HMAC secret kept in `data_dir`, created on first use.

    Random per installation rather than a constant in the source, so a dev gateway reachable from
    elsewhere does not accept tokens anyone could mint. Published with a hard link, which fails if the file
    exists, so concurrent first users (gateway and CLI) end up with the same secret.
    """
    path = Path(data_dir) / DEV_SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{DEV_SECRET_FILE}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return path.read_text().strip()


def issue_token(
    key: Any,
    *,
    subject: str,
    algorithm: str = "HS256",
    tenant_id: str | None = None,
    roles: tuple[str, ...] | None = None,
    platform_role: str | None = None,
    ttl_seconds: float = 3600.0,
    issuer: str | None = None,
    audience: str | None = None,
    kid: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A signed token in the claim layout the verifier reads; for dev tooling and tests."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "iat": now, "nbf": now, "exp": now + int(ttl_seconds)}
    optional = {"tenant_id": tenant_id, "platform_role": platform_role, "iss": issuer, "aud": audience}
    claims.update({name: value for name, value in optional.items() if value is not None})
    if roles is not None:
        claims["roles"] = list(roles)
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def _string_list(value: Any) -> tuple[str, ...] | None:
    valid = isinstance(value, list) and all(isinstance(item, str) for item in value)
    return tuple(value) if valid else None


class TokenRejected(Exception):
    """Why a token failed verification: malformed, algorithm, unknown_key, expired, issuer, audience,
    signature or invalid (a missing or malformed claim)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def claims_of(payload: Mapping[str, Any]) -> TokenClaims | None:
    """What a verified payload asserts, in the layout the API reads; None when a claim is malformed."""
    return _claims(payload)


def _claims(payload: Mapping[str, Any]) -> TokenClaims | None:
    subject = payload.get("sub")
    tenant_id = payload.get("tenant_id")
    platform_role = payload.get("platform_role")
    roles = _string_list(payload["roles"]) if "roles" in payload else None
    scopes = _string_list(payload.get("scopes", []))
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_CHARS:
        return None
    if tenant_id is not None and not (isinstance(tenant_id, str) and 0 < len(tenant_id) <= MAX_TENANT_ID_CHARS):
        return None
    if platform_role is not None and not isinstance(platform_role, str):
        return None
    if ("roles" in payload and roles is None) or scopes is None:
        # A malformed claim is a malformed token: guessing what it meant could grant too much.
        return None
    email = payload.get("email")
    email = email if isinstance(email, str) and 0 < len(email) <= MAX_EMAIL_CHARS else None
    verified = email is not None and payload.get("email_verified") is True
    name = payload.get("name")
    name = name.strip() if isinstance(name, str) and 0 < len(name.strip()) <= MAX_NAME_CHARS else None
    expires = float(payload["exp"])
    return TokenClaims(subject, tenant_id, roles, platform_role, scopes, expires, email, verified, name)


class JwtVerifier:
    def __init__(self, config: JwtConfig, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._owns_http = http is None and config.jwks_url is not None
        self._http = http or (httpx.AsyncClient(timeout=5.0) if config.jwks_url else None)
        self._jwks = (
            KeySet(config.jwks_url, self._http, config.jwks_cache_seconds, config.jwks_min_refresh_seconds)
            if config.jwks_url and self._http is not None
            else None
        )

    @property
    def enabled(self) -> bool:
        hmac_ready = self.config.secret is not None and bool(self.config.algorithms & HMAC)
        has_public_keys = self._jwks is not None or bool(self.config.public_keys)
        return hmac_ready or (has_public_keys and bool(self.config.algorithms - HMAC))

    async def verify(self, token: str) -> TokenClaims | None:
        """The token's claims if it is well-formed, correctly signed, current and meant for us; else None."""
        try:
            payload = await self.decode(token)
        except TokenRejected as exc:
            log.debug("rejected a token: %s", exc.reason)
            return None
        return _claims(payload)

    async def decode(
        self, token: str, *, audience: str | None = None, algorithms: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """The verified payload, for this verifier's audience or the one given (an ID token's is the client's).

        `algorithms` narrows the allow-list (never widens it). Raises `TokenRejected` saying what failed.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected("malformed") from exc
        algorithm = header.get("alg")
        allowed = self.config.algorithms & algorithms if algorithms is not None else self.config.algorithms
        if not isinstance(algorithm, str) or algorithm not in allowed:
            raise TokenRejected("algorithm")
        key = await self._key_for(algorithm, header.get("kid"))
        if key is None:
            raise TokenRejected("unknown_key")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience or self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options=_DECODE_OPTIONS,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRejected("issuer") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected("audience") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenRejected("signature") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenRejected("invalid") from exc
        return payload

    async def _key_for(self, algorithm: str, kid: object) -> Any | None:
        if algorithm in HMAC:
            return self.config.secret
        key: Any | None = None
        if kid is None:
            # Without a key id only an unambiguous static key will do.
            if len(self.config.public_keys) == 1:
                key = next(iter(self.config.public_keys.values()))
        elif not isinstance(kid, str):
            return None
        elif kid in self.config.public_keys:
            key = self.config.public_keys[kid]
        elif self._jwks is not None:
            key = await self._jwks.key(kid, algorithm)
        return key if key is not None and key_fits(algorithm, key) else None

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()
