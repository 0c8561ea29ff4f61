"""`/console/sign-in` and `/console/sign-out`: a credential the API accepts becomes a browser session.

With an identity provider configured (`AIAAS_OIDC_CLIENT_ID`), the page also offers "Sign in with ..."
(`console.pages.oidc`), and signing out of such a session ends the provider's session too.

The form takes an API key (what `aiaas tenant create` prints, so `aiaas up` needs nothing more) or a JWT
from the identity provider the API trusts (`aiaas admin token` prints one in development). The credential
is checked by the gateway's authenticator exactly as a `Bearer` header would be, then kept sealed in the
session (`tenancy.web_sessions`); the cookie is HttpOnly, SameSite=Lax, and Secure whenever the request came
over HTTPS or the gateway runs in prod (`AIAAS_CONSOLE_COOKIE_SECURE` overrides).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from api.deps import authenticate_any
from api.errors import ApiError
from api.session_auth import COOKIE_NAME, session_id
from api.state import GatewayState
from console.web import PREFIX, SECURITY_HEADERS, ConsoleRoute, check_csrf, render, same_origin

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
MAX_CREDENTIAL_CHARS = 8192


def cookie_secure(request: Request, state: GatewayState) -> bool:
    configured = state.settings.console_cookie_secure
    if configured is not None:
        return configured
    return request.url.scheme == "https" or state.settings.env == "prod"


def safe_next(target: str | None) -> str:
    # Back to a console page only: never an absolute or scheme-relative URL (an open redirect).
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


def _provider_name(request: Request) -> str | None:
    oidc = request.app.state.gateway.oidc
    return oidc.name if oidc is not None else None


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    return render(None, request, "sign_in.html", next=safe_next(next), oidc_name=_provider_name(request))


@router.post("/sign-in")
async def sign_in(
    request: Request,
    credential: Annotated[str, Form(min_length=1, max_length=MAX_CREDENTIAL_CHARS)],
    next: Annotated[str | None, Form(max_length=512)] = None,
) -> Response:
    # No session yet, so no CSRF token: a form posted from another site is refused by its Origin instead
    # (login CSRF would sign the victim in as the attacker).
    if not same_origin(request):
        raise ApiError(403, "csrf_failed", "sign in from the console's own page")
    state: GatewayState = request.app.state.gateway
    token = credential.strip()
    try:
        await authenticate_any(state, f"Bearer {token}")
    except ApiError as exc:
        return render(
            None, request, "sign_in.html", exc.status, next=safe_next(next), error=exc.message, error_code=exc.code,
            oidc_name=_provider_name(request),
        )  # fmt: skip
    await state.web_sessions.close(session_id(request))
    opened = await state.web_sessions.open(token)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        opened,
        max_age=int(state.settings.console_session_seconds),
        path="/",
        secure=cookie_secure(request, state),
        httponly=True,
        samesite="lax",
    )
    response.headers.update(SECURITY_HEADERS)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    # No principal needed: a session still choosing its tenant, or whose credential lapsed, signs out too.
    state: GatewayState = request.app.state.gateway
    session = session_id(request)
    entry = await state.web_sessions.entry(session)
    if entry is None or session is None:
        raise ApiError(401, "unauthenticated", "no console session; sign in again")
    await check_csrf(request, session)
    await state.web_sessions.close(session)
    provider_logout, oidc = None, state.oidc
    if entry.kind == "oidc" and oidc is not None and entry.refresh_token is not None:
        # The provider forgets the refresh token (RFC 7009), so a copy of it renews nothing.
        await oidc.revoke(entry.refresh_token)
    if entry.kind == "oidc" and oidc is not None:
        # RP-initiated logout: the provider ends its own session too, then sends the browser back here.
        provider_logout = await oidc.end_session_url(
            id_token=entry.credential, post_logout_redirect_uri=str(request.url_for("sign_in_form"))
        )
    if provider_logout is None or oidc is None:
        response: Response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    else:
        # A page that moves on by itself rather than a redirect: the CSP's `form-action 'self'` would stop a
        # form's redirect to the provider's origin.
        response = render(None, request, "signed_out.html", provider_logout=provider_logout, oidc_name=oidc.name)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
