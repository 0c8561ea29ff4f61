"""`/console/choose-tenant`: the tenant a person works in, when their identity provider's token names none.

A person signed in through the identity provider whose ID token carries no `tenant_id` chooses among the
tenants they are a member of (`tenancy.memberships`, looked up for the token's verified `sub`, never for
anything the form says). The choice is kept in the session's sealed entry and decided again on every request
as if the token named that tenant, with the membership's role only (`api.session_auth.id_token_principal`):
a membership removed since sends the person back here on their next click, and a tenant id in the form that
is not one of their memberships is refused (403 `not_a_member`) and changes nothing.

A person who also holds a platform role may choose no tenant (the operator pages only). With no membership
and no platform role there is nothing to choose: the session ends with the sign-in page's `no_access`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from api.errors import ApiError
from api.session_auth import COOKIE_NAME, id_token_principal, live_entry, session_id
from api.state import GatewayState
from console.pages.signin import safe_next
from console.web import PREFIX, SECURITY_HEADERS, ConsoleRoute, check_csrf, render
from tenancy.jwt import TokenClaims
from tenancy.memberships import Membership, memberships_of
from tenancy.oidc import OidcError
from tenancy.principal import Principal
from tenancy.web_sessions import SessionEntry, csrf_token

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PATH = "/choose-tenant"
MAX_TENANT_ID_CHARS = 64
Next = Annotated[str | None, Query(max_length=512)]


async def _session(request: Request) -> tuple[GatewayState, str, SessionEntry]:
    state: GatewayState = request.app.state.gateway
    session = session_id(request)
    entry = await live_entry(state, session)
    if entry is None or session is None:
        raise ApiError(401, "unauthenticated", "no console session; sign in again")
    return state, session, entry


async def _tenantless(state: GatewayState, entry: SessionEntry) -> TokenClaims | None:
    """The claims of an identity session whose token names no tenant; None for any other session."""
    if entry.kind != "oidc" or state.oidc is None:
        return None
    try:
        claims = (await state.oidc.verify(entry.credential)).claims
    except OidcError:
        raise ApiError(401, "unauthenticated", "the credentials of this session are no longer valid") from None
    return claims if claims.tenant_id is None else None


async def _operator(state: GatewayState, entry: SessionEntry) -> bool:
    """The person holds a platform role without any tenant (in their token or in aiaas)."""
    principal = await id_token_principal(state, entry.credential)
    return isinstance(principal, Principal) and principal.platform_role is not None


def _no_access(request: Request, subject: str) -> Response:
    message = (
        f"you signed in as {subject}, but that identity is a member of no tenant and holds no platform role; "
        "ask an administrator of your tenant to add you"
    )
    page = render(None, request, "sign_in.html", 403, next=PREFIX + "/", error=message, error_code="no_access")
    page.delete_cookie(COOKIE_NAME, path="/")
    return page


@router.get(PATH)
async def choose_tenant_page(request: Request, next: Next = None) -> Response:
    state, session, entry = await _session(request)
    target = safe_next(next)
    claims = await _tenantless(state, entry)
    if claims is None:
        response = RedirectResponse(target, status_code=303)
        response.headers.update(SECURITY_HEADERS)
        return response
    memberships = await memberships_of(state.db, claims.subject)
    operator = await _operator(state, entry)
    if not memberships and not operator:
        await state.web_sessions.close(session)
        return _no_access(request, claims.subject)
    return render(
        None, request, "choose_tenant.html", memberships=memberships, chosen=entry.tenant_id, operator=operator,
        subject=claims.subject, next=target, csrf=csrf_token(session),
    )  # fmt: skip


@router.post(PATH)
async def choose_tenant(
    request: Request,
    tenant_id: Annotated[str, Form(max_length=MAX_TENANT_ID_CHARS)] = "",
    next: Annotated[str | None, Form(max_length=512)] = None,
) -> Response:
    state, session, entry = await _session(request)
    await check_csrf(request, session)
    claims = await _tenantless(state, entry)
    if claims is None:
        raise ApiError(403, "tenant_fixed", "this session's credentials name its tenant; there is nothing to choose")
    memberships: list[Membership] = await memberships_of(state.db, claims.subject)
    if tenant_id:
        if tenant_id not in {membership.tenant_id for membership in memberships}:
            raise ApiError(403, "not_a_member", "you are not a member of that tenant")
    elif not await _operator(state, entry):
        raise ApiError(403, "not_a_member", "choose one of your tenants")
    if not await state.web_sessions.store(session, replace(entry, tenant_id=tenant_id or None), replace=True):
        raise ApiError(401, "unauthenticated", "no console session; sign in again")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response
