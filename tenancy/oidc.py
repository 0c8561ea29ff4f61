"""The console as an OpenID Connect relying party of the identity provider the API already trusts.

Authorization code flow with PKCE (S256), `state` and `nonce`. The provider is the API's JWT issuer
(`AIAAS_JWT_ISSUER`); its endpoints come from `{issuer}/.well-known/openid-configuration`, cached. The code
is exchanged with Authlib's OAuth 2 client (client_secret_basic for a confidential client, none for a public
one); the ID token is verified by the API's own `JwtVerifier` (the same key set, issuer, expiry and leeway),
for the console client's audience and with the provider's public-key algorithms only.

Every failure is an `OidcError` with the status and message the sign-in page shows: 503 when the provider
cannot be reached, 502 when it answers with nonsense, 400 when it refuses the code, 401 when its token does
not verify. Nothing here ever turns into a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.integrations.httpx_client import oauth2_client as _authlib_httpx

from core.settings import Settings
from tenancy.jwt import JwtVerifier, TokenClaims, TokenRejected, claims_of
from tenancy.jwt_keys import ASYMMETRIC

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
# RFC 7009's `token_type_hint` for a refresh token (a type name, no secret).
_REFRESH_HINT = "refresh_token"
HTTP_TIMEOUT_SECONDS = 10.0
# Authlib's client runs on `httpx2` when that is installed (it is, through other dependencies), else on httpx:
# a transport failure may come from either.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, _authlib_httpx.httpx2.HTTPError)
_TOKEN_FAILURES: tuple[type[Exception], ...] = (*_TRANSPORT_ERRORS, ValueError)
# What each verification failure of an ID token tells the person signing in.
_REJECTIONS = {
    "expired": "the identity provider's token has expired",
    "issuer": "the token was issued by another identity provider than the one this console trusts",
    "audience": "the token was issued for another application than this console",
    "signature": "the token's signature does not verify with the identity provider's keys",
    "unknown_key": "the token is signed with a key the identity provider does not publish",
    "algorithm": "the token is signed with an algorithm this console does not accept",
}


class OidcError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None
    revocation_endpoint: str | None = None


@dataclass(frozen=True)
class SignedIn:
    """A verified ID token and what it asserts."""

    id_token: str
    claims: TokenClaims


def _endpoint(document: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = document.get(name)
    if isinstance(value, str) and urlsplit(value).scheme in ("http", "https"):
        return value
    if required:
        raise OidcError(502, "provider_misconfigured", f"the identity provider's discovery document has no {name}")
    return None


class OidcClient:
    """Discovery, the authorization URL, the code exchange and ID token verification for one provider."""

    def __init__(self, settings: Settings, verifier: JwtVerifier) -> None:
        if not settings.oidc_client_id or not settings.jwt_issuer:
            raise ValueError("OpenID Connect sign-in needs AIAAS_OIDC_CLIENT_ID and AIAAS_JWT_ISSUER")
        self.issuer = settings.jwt_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        secret = settings.oidc_client_secret
        self._client_secret = secret.get_secret_value() if secret is not None else None
        scopes = list(settings.oidc_scopes)
        if settings.oidc_offline_access and "offline_access" not in scopes:
            scopes.append("offline_access")
        self.scope = " ".join(scopes)
        self.refresh_before_seconds = settings.oidc_refresh_before_seconds
        self.name = settings.oidc_provider_name or urlsplit(self.issuer).netloc or self.issuer
        self._verifier = verifier
        self._cache_seconds = settings.oidc_discovery_cache_seconds
        self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS)
        self._metadata: ProviderMetadata | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def metadata(self) -> ProviderMetadata:
        """The provider's endpoints, from its discovery document (cached; a failed refresh keeps the old one)."""
        known = self._metadata
        if known is not None and time.monotonic() - self._loaded_at < self._cache_seconds:
            return known
        async with self._lock:
            if self._metadata is not None and time.monotonic() - self._loaded_at < self._cache_seconds:
                return self._metadata
            try:
                fresh = await self._discover()
            except OidcError:
                if self._metadata is not None:
                    return self._metadata
                raise
            self._metadata, self._loaded_at = fresh, time.monotonic()
            return fresh

    async def _discover(self) -> ProviderMetadata:
        try:
            response = await self._http.get(self.issuer + DISCOVERY_PATH)
            response.raise_for_status()
            document = response.json()
        except httpx.HTTPError as exc:
            log.warning("identity provider discovery failed: %s", type(exc).__name__)
            raise OidcError(503, "provider_unavailable", f"{self.name} did not answer; try again shortly") from exc
        except ValueError as exc:
            raise OidcError(502, "provider_misconfigured", f"{self.name} sent no discovery document") from exc
        if not isinstance(document, dict):
            raise OidcError(502, "provider_misconfigured", f"{self.name} sent no discovery document")
        # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was fetched for.
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise OidcError(502, "provider_misconfigured", "the discovery document names another issuer")
        return ProviderMetadata(
            issuer=self.issuer,
            authorization_endpoint=_endpoint(document, "authorization_endpoint") or "",
            token_endpoint=_endpoint(document, "token_endpoint") or "",
            end_session_endpoint=_endpoint(document, "end_session_endpoint", required=False),
            revocation_endpoint=_endpoint(document, "revocation_endpoint", required=False),
        )

    def _oauth(self, redirect_uri: str | None = None) -> AsyncOAuth2Client:
        auth_method = "client_secret_basic" if self._client_secret else "none"
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            token_endpoint_auth_method=auth_method,
            revocation_endpoint_auth_method=auth_method,
            scope=self.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT_SECONDS,
        )

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        endpoint = (await self.metadata()).authorization_endpoint
        url, _ = self._oauth(redirect_uri).create_authorization_url(
            endpoint, state=state, code_verifier=code_verifier, nonce=nonce
        )
        return str(url)

    async def exchange(self, *, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        """The token response for `code`; raises `OidcError` when the provider refuses it or cannot be reached."""
        endpoint = (await self.metadata()).token_endpoint
        async with self._oauth(redirect_uri) as oauth:
            try:
                token = await oauth.fetch_token(endpoint, code=code, code_verifier=code_verifier)
            except OAuthError as exc:
                # invalid_grant: a code used twice, expired, or not issued to this client and verifier.
                raise OidcError(
                    400, "code_refused", f"{self.name} refused the sign-in code ({exc.error}); start again"
                ) from exc
            except _TOKEN_FAILURES as exc:
                raise self._token_failure(exc) from exc
        return dict(token)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A new token response for a refresh token (`grant_type=refresh_token`); `OidcError` when refused
        (revoked, expired: 401 `refresh_refused`) or when the provider cannot be reached."""
        endpoint = (await self.metadata()).token_endpoint
        async with self._oauth() as oauth:
            try:
                token = await oauth.refresh_token(endpoint, refresh_token=refresh_token)
            except OAuthError as exc:
                raise OidcError(
                    401, "refresh_refused", f"{self.name} ended your sign-in ({exc.error}); sign in again"
                ) from exc
            except _TOKEN_FAILURES as exc:
                raise self._token_failure(exc) from exc
        return dict(token)

    async def revoke(self, refresh_token: str) -> bool:
        """Revoke a refresh token at the provider (RFC 7009) when it has a revocation endpoint; True when
        the provider accepted. Never raises: signing out goes on whatever the provider answers."""
        try:
            endpoint = (await self.metadata()).revocation_endpoint
        except OidcError:
            return False
        if endpoint is None:
            return False
        async with self._oauth() as oauth:
            try:
                response = await oauth.revoke_token(endpoint, token=refresh_token, token_type_hint=_REFRESH_HINT)
            except (*_TOKEN_FAILURES, OAuthError) as exc:
                log.warning("identity provider token revocation failed: %s", type(exc).__name__)
                return False
        if response.status_code != 200:
            log.warning("identity provider refused to revoke a token: HTTP %s", response.status_code)
        return bool(response.status_code == 200)

    def _token_failure(self, exc: Exception) -> OidcError:
        if isinstance(exc, _TRANSPORT_ERRORS):
            log.warning("identity provider token request failed: %s", type(exc).__name__)
            status = getattr(getattr(exc, "response", None), "status_code", 503)
            if status >= 500:
                return OidcError(503, "provider_unavailable", f"{self.name} did not answer; try again shortly")
        # A 4xx that is not an OAuth error body, or no JSON: the provider is not speaking OAuth to us.
        return OidcError(502, "provider_misconfigured", f"{self.name} sent no token response")

    async def verify(self, id_token: str, *, nonce: str | None = None) -> SignedIn:
        """Verify an ID token as the API verifies a JWT, for this client; with `nonce`, it must carry it."""
        try:
            payload = await self._verifier.decode(id_token, audience=self.client_id, algorithms=ASYMMETRIC)
        except TokenRejected as exc:
            message = _REJECTIONS.get(exc.reason, "the identity provider's token is not valid")
            raise OidcError(401, f"id_token_{exc.reason}", message) from exc
        audiences = payload.get("aud")
        if isinstance(audiences, list) and len(audiences) > 1 and payload.get("azp") not in (None, self.client_id):
            raise OidcError(401, "id_token_audience", _REJECTIONS["audience"])
        if nonce is not None and payload.get("nonce") != nonce:
            raise OidcError(401, "nonce_mismatch", "the token does not belong to this sign-in (nonce mismatch)")
        claims = claims_of(payload)
        if claims is None:
            raise OidcError(401, "id_token_invalid", "the identity provider's token has malformed claims")
        return SignedIn(id_token=id_token, claims=claims)

    async def end_session_url(self, *, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """Where the browser goes to end its session at the provider too; None when it has no such endpoint."""
        try:
            endpoint = (await self.metadata()).end_session_endpoint
        except OidcError:
            return None
        if endpoint is None:
            return None
        params = {"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_redirect_uri}
        query = urlencode({**params, "client_id": self.client_id})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._http.aclose()
