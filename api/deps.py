"""Request dependencies: the authenticated principal and the gateway's clients, as `Annotated` types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket
from temporalio.client import Client

from api.errors import ApiError
from api.state import GatewayState
from core.events import EventBus
from core.settings import Settings
from tenancy.auth import Principal
from tenancy.db import Database

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aiaas"'}
_MAX_TOKEN_CHARS = 512


def _state(request: Request) -> GatewayState:
    return request.app.state.gateway


def _bearer(header: str | None) -> str:
    if not header:
        raise ApiError(401, "unauthenticated", "missing Authorization header", headers=_CHALLENGE)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_TOKEN_CHARS:
        raise ApiError(401, "unauthenticated", "expected `Authorization: Bearer <api key>`", headers=_CHALLENGE)
    return token


async def authenticate(state: GatewayState, header: str | None) -> Principal:
    principal = await state.authenticator.authenticate(_bearer(header))
    if principal is None:
        raise ApiError(401, "unauthenticated", "invalid or revoked credentials", headers=_CHALLENGE)
    return principal


async def _principal(request: Request) -> Principal:
    return await authenticate(_state(request), request.headers.get("authorization"))


async def _ws_principal(websocket: WebSocket) -> Principal:
    return await authenticate(websocket.app.state.gateway, websocket.headers.get("authorization"))


StateDep = Annotated[GatewayState, Depends(_state)]
TenantDep = Annotated[Principal, Depends(_principal)]
WsTenantDep = Annotated[Principal, Depends(_ws_principal)]


def _temporal(request: Request) -> Client:
    return _state(request).temporal


def _db(request: Request) -> Database:
    return _state(request).db


def _bus(request: Request) -> EventBus:
    return _state(request).bus


def _settings(request: Request) -> Settings:
    return _state(request).settings


TemporalDep = Annotated[Client, Depends(_temporal)]
DatabaseDep = Annotated[Database, Depends(_db)]
BusDep = Annotated[EventBus, Depends(_bus)]
SettingsDep = Annotated[Settings, Depends(_settings)]
