"""The console's session cookie as a way to authenticate, for the console and for the codec endpoint only.

The `/v1` API never reads the cookie: a browser would send it with any cross-site form, and the API has no
CSRF tokens. The console checks a CSRF token on every form; the codec endpoint accepts the cookie only from
an origin it allows (Temporal UI's), and decoding changes nothing.

A session resolves through the same authenticator as an `Authorization` header, so it yields the same
principal, with the same roles, permissions, revocation and suspension, as the credential that opened it.

An OpenID Connect session renews its ID token first when it is due (`tenancy.oidc_sessions`). When its token
names no tenant, the tenant the person chose on the console's picker is decided as if the token named it,
with the role of their membership only (never a `roles` claim, which would then speak for any tenant): no
membership, no role, and the person is sent back to the picker (`tenant_not_chosen`).
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request

from api.errors import ApiError
from api.state import GatewayState
from tenancy.auth import Refusal
from tenancy.oidc import OidcError
from tenancy.oidc_sessions import current
from tenancy.principal import Principal
from tenancy.web_sessions import SessionEntry

COOKIE_NAME = "aiaas_session"


def session_id(request: Request) -> str | None:
    return request.cookies.get(COOKIE_NAME)


async def session_principal(state: GatewayState, request: Request) -> Principal:
    """The principal of the request's console session; 401 without a live one, 403 for a suspended tenant."""
    entry = await live_entry(state, session_id(request))
    if entry is None:
        raise ApiError(401, "unauthenticated", "no console session; sign in again")
    if entry.kind == "oidc":
        principal = await id_token_principal(state, entry.credential, chosen_tenant=entry.tenant_id)
        if principal is None and await names_no_tenant(state, entry.credential):
            raise ApiError(401, "tenant_not_chosen", "choose the tenant to work in")
        # The console offers to switch: a chosen tenant, or an operator's token that names none.
        request.state.tenant_switchable = entry.tenant_id is not None or (
            isinstance(principal, Principal) and principal.tenant_id is None
        )
    else:
        principal = await state.authenticator.resolve(entry.credential)
    if principal is Refusal.TENANT_SUSPENDED:
        raise ApiError(403, "tenant_suspended", "this tenant is suspended; the platform's administrators can resume it")
    if not isinstance(principal, Principal):
        raise ApiError(401, "unauthenticated", "the credentials of this session are no longer valid; sign in again")
    return principal


async def live_entry(state: GatewayState, session: str | None) -> SessionEntry | None:
    """The session's entry, its ID token renewed first when due; None without a live session."""
    entry = await state.web_sessions.entry(session)
    if entry is None or entry.kind != "oidc" or state.oidc is None or session is None:
        return entry
    return await current(state.web_sessions, state.oidc, session, entry)


async def id_token_principal(
    state: GatewayState, id_token: str, *, chosen_tenant: str | None = None
) -> Principal | Refusal | None:
    """An OpenID Connect session's ID token, verified again (signature, issuer, the console client's audience,
    expiry), then decided as the API decides a JWT with the same claims. None once it no longer verifies.

    For a token naming no tenant, `chosen_tenant` (the picker's choice) stands in for its `tenant_id`, with the
    membership's role alone; without a membership there, None."""
    if state.oidc is None:
        return None
    try:
        signed_in = await state.oidc.verify(id_token)
    except OidcError:
        return None
    claims = signed_in.claims
    if claims.tenant_id is not None or chosen_tenant is None:
        return await state.authenticator.resolve_claims(id_token, claims)
    chosen = await state.authenticator.resolve_claims(id_token, replace(claims, tenant_id=chosen_tenant, roles=None))
    if isinstance(chosen, Principal) and not chosen.roles:
        return None  # not (or no longer) a member of the chosen tenant
    return chosen


async def names_no_tenant(state: GatewayState, id_token: str) -> bool:
    """A verified ID token without a `tenant_id` claim: its person picks the tenant in the console."""
    if state.oidc is None:
        return False
    try:
        return (await state.oidc.verify(id_token)).claims.tenant_id is None
    except OidcError:
        return False
