"""The console's session cookie as a way to authenticate, for the console and for the codec endpoint only.

The `/v1` API never reads the cookie: a browser would send it with any cross-site form, and the API has no
CSRF tokens. The console checks a CSRF token on every form; the codec endpoint accepts the cookie only from
an origin it allows (Temporal UI's), and decoding changes nothing.

A session resolves through the same authenticator as an `Authorization` header, so it yields the same
principal, with the same roles, permissions, revocation and suspension, as the credential that opened it.
"""

from __future__ import annotations

from fastapi import Request

from api.errors import ApiError
from api.state import GatewayState
from tenancy.auth import Refusal
from tenancy.oidc import OidcError
from tenancy.principal import Principal

COOKIE_NAME = "aiaas_session"


def session_id(request: Request) -> str | None:
    return request.cookies.get(COOKIE_NAME)


async def session_principal(state: GatewayState, request: Request) -> Principal:
    """The principal of the request's console session; 401 without a live one, 403 for a suspended tenant."""
    entry = await state.web_sessions.entry(session_id(request))
    if entry is None:
        raise ApiError(401, "unauthenticated", "no console session; sign in again")
    if entry.kind == "oidc":
        principal = await id_token_principal(state, entry.credential)
    else:
        principal = await state.authenticator.resolve(entry.credential)
    if principal is Refusal.TENANT_SUSPENDED:
        raise ApiError(403, "tenant_suspended", "this tenant is suspended; the platform's administrators can resume it")
    if not isinstance(principal, Principal):
        raise ApiError(401, "unauthenticated", "the credentials of this session are no longer valid; sign in again")
    return principal


async def id_token_principal(state: GatewayState, id_token: str) -> Principal | Refusal | None:
    """An OpenID Connect session's ID token, verified again (signature, issuer, the console client's audience,
    expiry), then decided as the API decides a JWT with the same claims. None once it no longer verifies."""
    if state.oidc is None:
        return None
    try:
        signed_in = await state.oidc.verify(id_token)
    except OidcError:
        return None
    return await state.authenticator.resolve_claims(id_token, signed_in.claims)
