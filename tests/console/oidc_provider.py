"""A small OpenID Connect provider for tests: a real HTTP server on loopback, in a thread of the test process.

It stands in for an external identity provider (Keycloak, Entra ID, Auth0...): discovery, a JWKS with one
RSA key, an authorize endpoint that approves the configured user at once (or answers `access_denied`), a
token endpoint that checks the client, the redirect URI and the PKCE verifier and honours each code once, and
an end-session endpoint that records the logout and sends the browser back. With `refresh_tokens` on it
also issues refresh tokens (rotated on each use: a used one is refused, as a revoked one), renews ID tokens
for them (`grant_type=refresh_token`), and revokes them at its revocation endpoint (RFC 7009). Tests steer
it through attributes: who signs in (`user`), what to change in the next ID token (`id_token_changes`), and
whether its token endpoint is down (`down`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Header, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from core.stack.ports import free_port

KID = "test-idp-1"
CLIENT_ID = "aiaas-console"
CLIENT_SECRET = "console-secret-for-tests"
API_AUDIENCE = "aiaas-api"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issued:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    claims: dict[str, Any]
    scope: str = ""
    used: bool = False


@dataclass
class RefreshGrant:
    claims: dict[str, Any]
    scope: str
    used: bool = False
    revoked: bool = False


@dataclass
class TestIdentityProvider:
    __test__ = False  # a test double, not a test class

    redirect_uri: str
    port: int = field(default_factory=free_port)
    # The claims of whoever "signs in" at the authorize endpoint; `sub` at least.
    user: dict[str, Any] = field(default_factory=lambda: {"sub": "nobody"})
    deny: bool = False
    down: bool = False
    # Claims to overwrite (or, with None, drop) in the ID tokens issued next, to forge a bad one.
    id_token_changes: dict[str, Any] = field(default_factory=dict)
    id_token_ttl: int = 3600
    # Sign the next ID tokens with a key the JWKS does not hold (same key id): a forged signature.
    forge_key: bool = False
    logouts: list[dict[str, str]] = field(default_factory=list)
    codes: dict[str, Issued] = field(default_factory=dict)
    # Issue refresh tokens with the code's tokens (whatever the scope, as some providers do).
    refresh_tokens: bool = False
    refresh_grants: dict[str, RefreshGrant] = field(default_factory=dict)
    # Every refresh_token grant asked for, and every token revoked at the revocation endpoint.
    refreshes: list[str] = field(default_factory=list)
    revocations: list[dict[str, str]] = field(default_factory=list)
    scopes_asked: list[str] = field(default_factory=list)
    key: rsa.RSAPrivateKey = field(default_factory=lambda: _new_key())

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self, user: dict[str, Any]) -> None:
        self.user, self.deny, self.down, self.forge_key, self.id_token_changes = user, False, False, False, {}
        self.refresh_tokens, self.id_token_ttl = False, 3600
        self.refreshes.clear()
        self.revocations.clear()

    def revoke_all(self, subject: str) -> None:
        """The provider ends the person's grants (an administrator's doing, or the person's own)."""
        for grant in self.refresh_grants.values():
            if grant.claims.get("sub") == subject:
                grant.revoked = True

    def _new_refresh_token(self, claims: dict[str, Any], scope: str) -> str:
        token = secrets.token_urlsafe(32)
        self.refresh_grants[token] = RefreshGrant(dict(claims), scope)
        return token

    def _tokens(self, claims: dict[str, Any], nonce: str | None, refresh_token: str | None) -> dict[str, Any]:
        now = int(time.time())
        access_claims = {"iss": self.issuer, "aud": API_AUDIENCE, "iat": now, "exp": now + 3600}
        answer: dict[str, Any] = {
            "access_token": self.sign({**access_claims, **claims}),
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": self.id_token(claims, nonce),
        }
        if refresh_token is not None:
            answer["refresh_token"] = refresh_token
        return answer

    def sign(self, claims: dict[str, Any], key: rsa.RSAPrivateKey | None = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": KID})

    def id_token(self, claims: dict[str, Any], nonce: str | None) -> str:
        now = int(time.time())
        body: dict[str, Any] = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + self.id_token_ttl}
        if nonce is not None:  # a renewed ID token carries no nonce (OpenID Connect Core 1.0, 12.2)
            body["nonce"] = nonce
        body.update(claims)
        for name, value in self.id_token_changes.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        forged = _new_key() if self.forge_key else None
        return self.sign(body, forged)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "end_session_endpoint": f"{self.issuer}/logout",
                "revocation_endpoint": f"{self.issuer}/revoke",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

        @app.get("/authorize")
        async def authorize(request: Request) -> Response:
            query = request.query_params
            if query.get("client_id") != CLIENT_ID or query.get("redirect_uri") != self.redirect_uri:
                return JSONResponse({"error": "invalid_client"}, status_code=400)
            if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                return JSONResponse({"error": "invalid_request", "error_description": "PKCE S256 required"}, 400)
            if "openid" not in (query.get("scope") or "").split():
                return JSONResponse({"error": "invalid_scope"}, status_code=400)
            answer: dict[str, str] = {"state": query.get("state", "")}
            if self.deny:
                answer["error"] = "access_denied"
            else:
                code = secrets.token_urlsafe(24)
                scope = query.get("scope") or ""
                self.scopes_asked.append(scope)
                challenge, nonce = query["code_challenge"], query.get("nonce", "")
                self.codes[code] = Issued(CLIENT_ID, self.redirect_uri, challenge, nonce, dict(self.user), scope)
                answer["code"] = code
            return RedirectResponse(f"{self.redirect_uri}?{urlencode(answer)}", status_code=302)

        def client_refused(authorization: str | None) -> Response | None:
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            return None if authorization == expected else JSONResponse({"error": "invalid_client"}, status_code=401)

        @app.post("/token")
        async def token(
            grant_type: Annotated[str, Form()],
            code: Annotated[str | None, Form()] = None,
            redirect_uri: Annotated[str | None, Form()] = None,
            code_verifier: Annotated[str | None, Form()] = None,
            refresh_token: Annotated[str | None, Form()] = None,
            authorization: Annotated[str | None, Header()] = None,
        ) -> Response:
            if self.down:
                return Response("upstream unavailable", status_code=503)
            refused = client_refused(authorization)
            if refused is not None:
                return refused
            if grant_type == "refresh_token":
                return refresh(refresh_token or "")
            issued = self.codes.get(code or "")
            if grant_type != "authorization_code" or issued is None or issued.used:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            issued.used = True
            challenge = base64.urlsafe_b64encode(hashlib.sha256((code_verifier or "").encode()).digest()).rstrip(b"=")
            if redirect_uri != issued.redirect_uri or challenge.decode() != issued.challenge:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
            minted = self._new_refresh_token(issued.claims, issued.scope) if self.refresh_tokens else None
            return JSONResponse(self._tokens(issued.claims, issued.nonce, minted))

        def refresh(presented: str) -> Response:
            self.refreshes.append(presented)
            grant = self.refresh_grants.get(presented)
            if grant is None or grant.used or grant.revoked:
                return JSONResponse({"error": "invalid_grant", "error_description": "refresh token"}, status_code=400)
            grant.used = True  # rotation: each refresh token works once
            return JSONResponse(self._tokens(grant.claims, None, self._new_refresh_token(grant.claims, grant.scope)))

        @app.post("/revoke")
        async def revoke(
            token: Annotated[str, Form()],
            token_type_hint: Annotated[str | None, Form()] = None,
            authorization: Annotated[str | None, Header()] = None,
        ) -> Response:
            refused = client_refused(authorization)
            if refused is not None:
                return refused
            self.revocations.append({"token": token, "token_type_hint": token_type_hint or ""})
            grant = self.refresh_grants.get(token)
            if grant is not None:
                grant.revoked = True
            return Response(status_code=200)  # RFC 7009: 200 for an unknown token too

        @app.get("/logout")
        async def logout(request: Request) -> Response:
            self.logouts.append(dict(request.query_params))
            back = request.query_params.get("post_logout_redirect_uri")
            return RedirectResponse(back, status_code=302) if back else Response("signed out")

        return app


class ProviderServer:
    """Serves a `TestIdentityProvider` with uvicorn in a daemon thread until `stop`."""

    def __init__(self, provider: TestIdentityProvider) -> None:
        config = uvicorn.Config(provider.app(), host="127.0.0.1", port=provider.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="test-idp", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test identity provider did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
