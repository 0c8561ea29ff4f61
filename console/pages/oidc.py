"""`/console/sign-in/oidc` and `/console/oidc/callback`: signing in through the identity provider.

The start stores a sign-in attempt (`tenancy.oidc_attempts`: PKCE verifier, nonce, where to go next) under a
fresh `state`, binds it to this browser with a short-lived HttpOnly cookie, and sends the browser to the
provider. The callback takes the attempt (single use), checks the browser's cookie, exchanges the code,
verifies the ID token with the API's own verifier (for this client, with the attempt's nonce), and decides
the identity exactly as the API decides a JWT (`ApiKeyAuthenticator.resolve_claims`). An identity that may
do nothing (no tenant role, no platform role) is refused there rather than signed in to empty pages.

Every failure is the sign-in page with a clear message and a 4xx (503/502 when the provider is down or
misbehaving), and the code in `#sign-in-error[data-code]`.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from prometheus_client import Counter

from api.session_auth import COOKIE_NAME, session_id
from api.state import GatewayState
from console.pages.invitation_accept import is_invitation_link
from console.pages.signin import cookie_secure, safe_next
from console.web import PREFIX, SECURITY_HEADERS, ConsoleRoute, render
from tenancy.auth import Refusal
from tenancy.jwt import TokenClaims
from tenancy.memberships import Membership, memberships_of
from tenancy.oidc import OidcClient, OidcError
from tenancy.oidc_attempts import new_binding
from tenancy.principal import Principal
from tenancy.web_sessions import MAX_SESSION_ID_CHARS, SessionEntry

log = logging.getLogger(__name__)
router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
BINDING_COOKIE = "aiaas_oidc"
MAX_PARAM_CHARS = 2048
SIGN_INS = Counter(
    "aiaas_console_oidc_sign_ins_total", "OpenID Connect sign-ins of the console by outcome", ["outcome"]
)
_OUTCOMES = frozenset(
    {
        "signed_in", "provider_unavailable", "provider_misconfigured", "access_denied", "provider_error",
        "state_missing", "state_unknown", "state_mismatch", "code_missing", "code_refused", "nonce_mismatch",
        "id_token_expired", "id_token_issuer", "id_token_audience", "id_token_signature", "id_token_unknown_key",
        "id_token_algorithm", "id_token_invalid", "id_token_malformed", "no_access", "tenant_suspended",
    }
)  # fmt: skip


def _provider(request: Request) -> tuple[GatewayState, OidcClient]:
    state: GatewayState = request.app.state.gateway
    if state.oidc is None:
        raise OidcError(404, "oidc_not_configured", "this console has no identity provider to sign in with")
    return state, state.oidc


def _redirect_uri(request: Request, state: GatewayState) -> str:
    return state.settings.oidc_redirect_uri or str(request.url_for("oidc_callback"))


def _refused(request: Request, error: OidcError, next: str = PREFIX + "/") -> Response:
    SIGN_INS.labels(error.code if error.code in _OUTCOMES else "other").inc()
    log.info("console sign-in refused", extra={"code": error.code, "status": error.status})
    state: GatewayState = request.app.state.gateway
    name = state.oidc.name if state.oidc is not None else None
    context = {"next": next, "error": error.message, "error_code": error.code, "oidc_name": name}
    page = render(None, request, "sign_in.html", error.status, **context)
    page.delete_cookie(BINDING_COOKIE, path=PREFIX)
    return page


@router.get("/sign-in/oidc")
async def oidc_start(request: Request, next: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    target = safe_next(next)
    try:
        state, oidc = _provider(request)
        # One binding per browser, kept while it lasts: two tabs signing in at once both match it.
        binding = request.cookies.get(BINDING_COOKIE) or ""
        if not 0 < len(binding) <= MAX_SESSION_ID_CHARS:
            binding = new_binding()
        attempt = await state.oidc_attempts.start(binding=binding, next=target)
        url = await oidc.authorization_url(
            redirect_uri=_redirect_uri(request, state),
            state=attempt.state,
            nonce=attempt.nonce,
            code_verifier=attempt.code_verifier,
        )
    except OidcError as exc:
        return _refused(request, exc, target)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        max_age=state.settings.oidc_attempt_seconds,
        path=PREFIX,
        secure=cookie_secure(request, state),
        httponly=True,
        # Lax: sent on the provider's top-level redirect back to the callback, never on a cross-site POST.
        samesite="lax",
    )
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/oidc/callback", name="oidc_callback")
async def oidc_callback(
    request: Request,
    state: Annotated[str | None, Query(max_length=MAX_PARAM_CHARS)] = None,
    code: Annotated[str | None, Query(max_length=MAX_PARAM_CHARS)] = None,
    error: Annotated[str | None, Query(max_length=MAX_PARAM_CHARS)] = None,
    error_description: Annotated[str | None, Query(max_length=MAX_PARAM_CHARS)] = None,
) -> Response:
    next = PREFIX + "/"
    try:
        gateway, oidc = _provider(request)
        if not state:
            raise OidcError(400, "state_missing", "the provider's answer carries no sign-in state; start again")
        attempt = await gateway.oidc_attempts.take(state)
        if attempt is None:
            raise OidcError(400, "state_unknown", "this sign-in is unknown, expired or was already used; start again")
        next = attempt.next
        if not attempt.bound_to(request.cookies.get(BINDING_COOKIE)):
            raise OidcError(400, "state_mismatch", "this sign-in was started in another browser; start again here")
        if error is not None:
            if error == "access_denied":
                raise OidcError(403, "access_denied", f"{oidc.name} did not let you sign in (access denied)")
            detail = f": {error_description}" if error_description else ""
            raise OidcError(400, "provider_error", f"{oidc.name} refused the sign-in ({error}{detail})")
        if not code:
            raise OidcError(400, "code_missing", "the provider's answer carries no sign-in code; start again")
        tokens = await oidc.exchange(
            code=code, redirect_uri=_redirect_uri(request, gateway), code_verifier=attempt.code_verifier
        )
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError(502, "provider_misconfigured", f"{oidc.name} sent no ID token (is `openid` a scope?)")
        signed_in = await oidc.verify(id_token, nonce=attempt.nonce)
        claims = signed_in.claims
        principal = await gateway.authenticator.resolve_claims(id_token, claims)
        memberships = await _memberships(gateway, principal, claims)
        # A newcomer signing in from an invitation's link gets a session that page alone accepts.
        if not memberships and not (principal is None and is_invitation_link(next)):
            _check_access(principal, claims.subject)
    except OidcError as exc:
        return _refused(request, exc, next)
    await gateway.web_sessions.close(session_id(request))
    refresh = tokens.get("refresh_token")
    entry = SessionEntry(
        id_token,
        kind="oidc",
        expires_at=claims.expires_at,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        # One tenant to choose from: chosen; several: the picker asks (and the session waits for the choice).
        tenant_id=memberships[0].tenant_id if len(memberships) == 1 else None,
    )
    opened = await gateway.web_sessions.open_entry(entry)
    SIGN_INS.labels("signed_in").inc()
    if len(memberships) > 1:
        next = f"{PREFIX}/choose-tenant?next={quote(next, safe='')}"
    response = RedirectResponse(next, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        opened,
        max_age=gateway.web_sessions.lifetime(entry),
        path="/",
        secure=cookie_secure(request, gateway),
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(BINDING_COOKIE, path=PREFIX)
    response.headers.update(SECURITY_HEADERS)
    return response


async def _memberships(
    gateway: GatewayState, principal: Principal | Refusal | None, claims: TokenClaims
) -> list[Membership]:
    """The tenants to choose from: for a token naming no tenant, its person's memberships, unless they are an
    operator (who works without a tenant, and may pick one on the picker later)."""
    if claims.tenant_id is not None or (isinstance(principal, Principal) and principal.platform_role is not None):
        return []
    return await memberships_of(gateway.db, claims.subject)


def _check_access(principal: Principal | Refusal | None, subject: str) -> None:
    """Refuse, with a reason, an identity the API would refuse or let do nothing at all."""
    if principal is Refusal.TENANT_SUSPENDED:
        suspended = "your tenant is suspended; the platform's administrators can resume it"
        raise OidcError(403, "tenant_suspended", suspended)
    if not isinstance(principal, Principal) or (not principal.roles and principal.platform_role is None):
        raise OidcError(
            403,
            "no_access",
            f"you signed in as {subject}, but that identity is a member of no tenant and holds no platform role; "
            "ask an administrator of your tenant to add you",
        )
