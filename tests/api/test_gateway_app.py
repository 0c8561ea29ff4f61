"""The gateway's app as `create_app` builds it, in this process: which routes admission guards, that the tool
registry it is given is the one its routes see, and that a message reads its tenant's plan once.

The in-process gateway runs on the suite's platform (its Temporal task queue, its worker), so a message it
accepts is a real submission.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts

from agents.sdk import ToolRegistry
from api.admission.deps import admit_request
from api.app import create_app
from app.tools import platform_registry
from core.settings import Settings
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform

_ENDPOINTS = {
    "temporal_address": "127.0.0.1:1",
    "database_url": "postgresql://x@127.0.0.1:1/x",
    "redis_url": "redis://x",
}


_DEFINITION_FIELDS = ("description", "system_prompt", "tools", "default_tier", "handoff_targets", "limits")


def _admitted(route: Any) -> bool:
    return any(dependency.call is admit_request for dependency in route.dependant.dependencies)


# Self-serve signup has no principal to admit (there is no tenant yet); it draws on limits of its own per
# client address and email domain (`policies.signup_limits`), tested in tests/api/test_signup_api.py.
_OPEN_V1 = {"/v1/signup", "/v1/signup/verify", "/v1/invitations/accept"}


def test_every_v1_http_route_is_admitted_and_no_websocket_route_is() -> None:
    app = create_app(Settings().model_copy(update=_ENDPOINTS), registry=platform_registry())
    http, sockets, others = [], [], []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if isinstance(original, APIWebSocketRoute):
            sockets.append(route)
        elif isinstance(original, APIRoute) and (route.path or "").startswith("/v1/") and route.path not in _OPEN_V1:
            http.append(route)
        elif isinstance(original, APIRoute):
            others.append(route)
    assert http and sockets and others
    assert [route.path for route in http if not _admitted(route)] == []
    # Admission runs before the route's own authorization, as the first thing the route depends on.
    assert all(route.dependant.dependencies[0].call is admit_request for route in http)
    assert [route.path for route in sockets if _admitted(route)] == []
    assert [route.path for route in others if _admitted(route)] == []


def _counting(calls: list[str], name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return await method(*args, **kwargs)

    return counted


async def _in_process(app: FastAPI, key: str, exchange: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=headers) as client:
            return await exchange(client)


def test_a_message_reads_its_tenants_plan_once(platform: Platform) -> None:
    _tenant_id, key = create_test_tenant(platform.settings, "Plan once", plan="enterprise")
    app = create_app(platform.settings, registry=platform_registry())
    calls: list[str] = []

    async def post(client: httpx.AsyncClient) -> httpx.Response:
        conversation = await client.post("/v1/conversations", json={})
        assert conversation.status_code == 201, conversation.text
        admission = app.state.admission
        admission.plans.plan_of = _counting(calls, "plan", admission.plans.plan_of)
        admission.limit = _counting(calls, "gate", admission.limit)
        admission.admit_turn = _counting(calls, "turn", admission.admit_turn)
        return await client.post(f"/v1/conversations/{conversation.json()['id']}/messages", json={"content": "hi"})

    posted = asyncio.run(_in_process(app, key, post))
    assert posted.status_code == 202, posted.text
    assert "RateLimit-Limit" in posted.headers
    assert calls == ["gate", "plan", "turn"]


def test_the_routes_see_the_registry_the_app_was_built_with(platform: Platform) -> None:
    _tenant_id, key = create_test_tenant(platform.settings, "Own registry")
    app = create_app(platform.settings, registry=ToolRegistry())

    async def exchange(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        listed = await client.get("/v1/tools")
        shipped = (await client.get("/v1/agents/support")).json()
        definition = {field: shipped[field] for field in _DEFINITION_FIELDS}
        saved = await client.put("/v1/agents/helper", json={**definition, "handoff_targets": []})
        return listed, saved

    listed, saved = asyncio.run(_in_process(app, key, exchange))
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"items": [], "next_cursor": None}
    # A tool the platform has, but not this app's registry: refused like a name nobody registered.
    assert saved.status_code == 422, saved.text
    assert saved.json()["error"]["code"] == "agent_invalid"
