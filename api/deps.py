"""Request dependencies: the authenticated principal, its authorization, and the gateway's clients.

    principal: TenantDep                                       # any principal of a tenant
    principal: Annotated[Principal, requires(Permission.X)]    # ... whose roles and scopes grant X
    principal: PlatformOperatorDep / PlatformAdminDep          # a platform role (admin implies operator)

`requires` always yields a `TenantPrincipal`; annotate with that instead of `Principal` where the route
needs `tenant_id` typed as `str`.

No or invalid credentials answer 401 with a `WWW-Authenticate` challenge; valid credentials that lack the
permission answer 403, and so do valid credentials of a suspended tenant (`tenant_suspended`): another key
would not help there, the platform has to resume the tenant. Another tenant's resources answer 404 in the
routes: they are invisible under row-level security, and saying "forbidden" would confirm they exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, WebSocket
from temporalio.client import Client

from agents.enablement import ToolEnablement
from agents.sdk import ToolRegistry
from api.errors import ApiError
from api.state import GatewayState
from core.events import EventBus
from core.settings import Settings
from db.database import Database
from tenancy.auth import Refusal
from tenancy.auth_cache import InvalidationListener
from tenancy.jwt import JwtConfig, JwtVerifier
from tenancy.oidc import OidcClient
from tenancy.permissions import Permission, PlatformRole, acts_as
from tenancy.principal import Principal, TenantPrincipal

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aiaas"'}
# Room for an RSA-signed JWT with a generous set of claims; API keys are far shorter.
_MAX_TOKEN_CHARS = 8192


def _state(request: Request) -> GatewayState:
    return request.app.state.gateway


def _bearer(header: str | None) -> str:
    if not header:
        raise ApiError(401, "unauthenticated", "missing Authorization header", headers=_CHALLENGE)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_CHARS:
        raise ApiError(401, "unauthenticated", "expected `Authorization: Bearer <token>`", headers=_CHALLENGE)
    return token


def _forbidden(message: str, **details: str) -> ApiError:
    return ApiError(403, "forbidden", message, details or None)


async def authenticate_any(state: GatewayState, header: str | None) -> Principal:
    """The principal behind the header, tenant or platform; 401 when there is none."""
    principal = await state.authenticator.resolve(_bearer(header))
    if principal is Refusal.TENANT_SUSPENDED:
        raise ApiError(403, "tenant_suspended", "this tenant is suspended; the platform's administrators can resume it")
    if not isinstance(principal, Principal):
        raise ApiError(401, "unauthenticated", "invalid, expired or revoked credentials", headers=_CHALLENGE)
    return principal


def authorize(principal: Principal, permission: Permission | None = None) -> TenantPrincipal:
    """`principal` as a tenant principal holding `permission`, or a 403."""
    if not isinstance(principal, TenantPrincipal):
        raise _forbidden("these credentials act for the platform, not for a tenant")
    if permission is not None and permission not in principal.permissions:
        raise _forbidden(f"requires the `{permission}` permission", permission=permission.value)
    return principal


async def authenticate(
    state: GatewayState, header: str | None, permission: Permission | None = None
) -> TenantPrincipal:
    """For routes that cannot use dependencies (the WebSocket accepts before it authenticates)."""
    return authorize(await authenticate_any(state, header), permission)


async def _principal(request: Request) -> Principal:
    return await authenticate_any(_state(request), request.headers.get("authorization"))


async def _tenant_principal(principal: Annotated[Principal, Depends(_principal)]) -> TenantPrincipal:
    return authorize(principal)


async def _ws_principal(websocket: WebSocket) -> TenantPrincipal:
    return await authenticate(websocket.app.state.gateway, websocket.headers.get("authorization"))


def requires(permission: Permission) -> Any:
    """`Annotated[Principal, requires(Permission.X)]`: a tenant principal whose roles and scopes grant X."""

    async def check(principal: Annotated[Principal, Depends(_principal)]) -> TenantPrincipal:
        return authorize(principal, permission)

    return Depends(check)


def _platform(role: PlatformRole) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not acts_as(principal.platform_role, role):
            raise _forbidden(f"requires the `{role}` platform role", platform_role=role.value)
        return principal

    return check


StateDep = Annotated[GatewayState, Depends(_state)]
TenantDep = Annotated[TenantPrincipal, Depends(_tenant_principal)]
WsTenantDep = Annotated[TenantPrincipal, Depends(_ws_principal)]
PlatformOperatorDep = Annotated[Principal, Depends(_platform(PlatformRole.PLATFORM_OPERATOR))]
PlatformAdminDep = Annotated[Principal, Depends(_platform(PlatformRole.PLATFORM_ADMIN))]
ConversationsReadDep = Annotated[TenantPrincipal, requires(Permission.CONVERSATIONS_READ)]
ConversationsWriteDep = Annotated[TenantPrincipal, requires(Permission.CONVERSATIONS_WRITE)]
KeysManageDep = Annotated[TenantPrincipal, requires(Permission.KEYS_MANAGE)]


@asynccontextmanager
async def auth_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """JWT verification and cross-replica cache invalidation, for as long as the gateway runs.

    Runs inside the app's own lifespan (routers' lifespans nest in it), so the gateway state exists.
    """
    state: GatewayState = app.state.gateway
    verifier = JwtVerifier(JwtConfig.from_settings(state.settings))
    state.authenticator.use_jwt(verifier)
    # The console's OpenID Connect sign-in verifies ID tokens with the same verifier (and key set).
    state.oidc = OidcClient(state.settings, verifier) if state.settings.oidc_client_id else None
    try:
        async with InvalidationListener(state.redis, state.authenticator.forget):
            yield
    finally:
        state.authenticator.use_jwt(None)
        if state.oidc is not None:
            await state.oidc.close()
            state.oidc = None
        await verifier.close()


def _temporal(request: Request) -> Client:
    return _state(request).temporal


def _db(request: Request) -> Database:
    return _state(request).db


def _bus(request: Request) -> EventBus:
    return _state(request).bus


def _settings(request: Request) -> Settings:
    return _state(request).settings


def _tools(request: Request) -> ToolRegistry:
    return _state(request).tools


def _tool_enablement(request: Request) -> ToolEnablement:
    return _state(request).tool_enablement


TemporalDep = Annotated[Client, Depends(_temporal)]
DatabaseDep = Annotated[Database, Depends(_db)]
BusDep = Annotated[EventBus, Depends(_bus)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ToolsDep = Annotated[ToolRegistry, Depends(_tools)]
ToolEnablementDep = Annotated[ToolEnablement, Depends(_tool_enablement)]
