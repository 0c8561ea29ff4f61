"""`/console/invitations/accept?token=...`: the link an invitation hands out, accepted as the signed-in person.

Without a session the link goes to the sign-in page and comes back with its token. The acceptance runs the
API's own (`api.routes.invitations.accept`) with the identity token the session was opened with: a session
opened with an API key is refused (`identity_required`), as the API refuses a key; a session opened through
the identity provider is verified as the console verifies it (its ID token is for the console's client).

A person new to the platform has no tenant yet: their identity provider's token names none and they are a
member of nothing. Signing in from an invitation's link opens a session for them anyway
(`console.pages.oidc`), which this page alone accepts: the person sees whom they are signed in as and joins
with the button, and the session then works in the tenant they joined. Every other page sends such a session
to the tenant picker, which ends it with `no_access` as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from api.errors import ApiError
from api.routes.invitations import accept, verified_identity
from api.session_auth import live_entry, session_id, session_principal
from api.state import GatewayState
from console.web import PREFIX, ConsoleRoute, Viewer, check_csrf, render
from tenancy.invitation_tokens import MAX_TOKEN_CHARS
from tenancy.jwt import TokenClaims
from tenancy.oidc import OidcError
from tenancy.web_sessions import SessionEntry, csrf_token

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PATH = "/invitations/accept"
Token = Annotated[str, Query(max_length=MAX_TOKEN_CHARS)]


def _missing() -> ApiError:
    return ApiError(404, "invitation_not_found", "this link carries no invitation; ask for a new one")


def is_invitation_link(path_and_query: str) -> bool:
    """`next` is this page with a token: a sign-in started from an invitation's link."""
    parts = urlsplit(path_and_query)
    return parts.path == f"{PREFIX}{PATH}" and bool(parse_qs(parts.query).get("token"))


async def _identity(state: GatewayState, entry: SessionEntry) -> TokenClaims | None:
    """The verified claims of a session opened through the identity provider; None for any other session."""
    if entry.kind != "oidc" or state.oidc is None:
        return None
    try:
        return (await state.oidc.verify(entry.credential)).claims
    except OidcError:
        return None


@dataclass(frozen=True)
class Visitor:
    """Who is on the page: the session's viewer when it acts for a tenant or a platform role (None for a
    person whose token names no tenant and who has chosen none), and the identity's subject either way."""

    viewer: Viewer | None
    subject: str
    session_id: str


async def _visitor(request: Request) -> Visitor:
    state: GatewayState = request.app.state.gateway
    sid = session_id(request) or ""
    try:
        principal = await session_principal(state, request)
    except ApiError as exc:
        if exc.code != "tenant_not_chosen":
            raise
        entry = await live_entry(state, sid)
        claims = await _identity(state, entry) if entry is not None else None
        if claims is None:
            raise
        return Visitor(None, claims.subject, sid)
    viewer = Viewer(request=request, principal=principal, session_id=sid)
    request.state.console_viewer = viewer
    return Visitor(viewer, principal.subject, sid)


def _page(request: Request, visitor: Visitor, **context: Any) -> Response:
    return render(
        visitor.viewer, request, "invitation_accept.html", subject=visitor.subject, csrf=csrf_token(visitor.session_id),
        **context,
    )  # fmt: skip


@router.get(PATH)
async def accept_page(request: Request, token: Token = "") -> Response:
    try:
        visitor = await _visitor(request)
    except ApiError as exc:
        if exc.status != 401:
            raise
        # Back here after signing in (or choosing the tenant), token and all (only console paths come back).
        back = f"{PREFIX}{PATH}?token={quote(token, safe='')}"
        where = "choose-tenant" if exc.code == "tenant_not_chosen" else "sign-in"
        return RedirectResponse(f"{PREFIX}/{where}?next={quote(back, safe='')}", status_code=303)
    if not token:
        raise _missing()
    return _page(request, visitor, token=token, accepted=None)


@router.post(PATH)
async def accept_invitation(request: Request, token: Annotated[str, Form(max_length=MAX_TOKEN_CHARS)] = "") -> Response:
    visitor = await _visitor(request)
    await check_csrf(request, visitor.session_id)
    if not token:
        raise _missing()
    state: GatewayState = request.app.state.gateway
    entry = await live_entry(state, visitor.session_id)
    if entry is None:
        raise ApiError(401, "unauthenticated", "no console session; sign in again")
    claims = await _identity(state, entry)
    accepted = await accept(state, claims or await verified_identity(state, entry.credential), token)
    here = visitor.viewer is not None and visitor.viewer.principal.tenant_id == accepted.tenant_id
    if claims is not None and claims.tenant_id is None and entry.tenant_id is None:
        # A person who had no tenant chosen works in the one they joined from now on (re-checked per request).
        chosen = replace(entry, tenant_id=accepted.tenant_id)
        here = await state.web_sessions.store(visitor.session_id, chosen, replace=True)
    return _page(request, visitor, token="", accepted=accepted, here=here)
