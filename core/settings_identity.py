"""Settings of who may sign in: console sessions, bearer JWTs from an identity provider, and the console's
OpenID Connect client. Part of `core.settings.Settings` (read with its `AIAAS_` prefix; checked by its
validators, which see the whole process's settings).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class IdentitySettings(BaseSettings):
    # The console (`/console`): how long a browser session lasts unused, and whether its cookie is `Secure`
    # (None: when the request came over HTTPS, or always in prod; false only for plain-http development).
    console_session_seconds: float = Field(default=8 * 3600.0, ge=60, le=30 * 86400)
    console_cookie_secure: bool | None = None

    # Bearer JWTs from an identity provider. HS* verify with `jwt_secret` (in dev and test, when unset, with
    # a random secret kept in `data_dir`, which `aiaas admin token` signs with); the asymmetric algorithms
    # with keys from `jwt_jwks_url` or `jwt_public_keys`, a JSON object of key id -> PEM public key. Lists
    # come from the environment as JSON: AIAAS_JWT_ALGORITHMS='["RS256"]'.
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["HS256", "RS256", "ES256"])
    jwt_secret: SecretStr | None = None
    jwt_jwks_url: str | None = None
    jwt_public_keys: str = ""
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    # A token naming an unknown key id refetches the key set, at most this often, so a flood of made-up
    # key ids cannot turn the gateway into a load generator against the identity provider.
    jwks_min_refresh_seconds: float = Field(default=30.0, ge=0)

    # The console's OpenID Connect sign-in (docs/console.md#signing-in-with-openid-connect), against the provider
    # the API trusts (`jwt_issuer`; its discovery document names the endpoints). Off without a client id. No
    # secret: a public client (PKCE alone). No redirect URI: `/console/oidc/callback` on the request's host.
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_uri: str | None = None
    oidc_scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    # What "Sign in with ..." names; the issuer's host when unset.
    oidc_provider_name: str | None = Field(default=None, max_length=80)
    oidc_discovery_cache_seconds: float = Field(default=3600.0, gt=0)
    # How long a started sign-in may take at the provider before its callback is refused.
    oidc_attempt_seconds: int = Field(default=600, ge=30, le=3600)
    # Ask for `offline_access` (a refresh token), so a console session outlives one ID token; a refresh token
    # the provider sends unasked is used all the same.
    oidc_offline_access: bool = False
    # Renew the ID token on the first request this many seconds before it expires.
    oidc_refresh_before_seconds: int = Field(default=60, ge=5, le=3600)
