"""`/v1/tools` through the real gateway: the catalogue, per-tenant switches, who may flip them, the audit trail,
and every other process seeing a switch at once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from agents.enablement import ToolEnablement
from db.database import Database
from policies.circuit_breaker import CircuitBreaker
from tests.e2e.platform import Platform

TOOL = "leads.score"


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"code", "message", "details"} and body["code"] == code
    return dict(body)


def _listed(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/tools", params={"limit": 200})
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()["items"]}


@pytest.fixture
def restore_b(api_b: httpx.Client) -> Iterator[httpx.Client]:
    """Tenant B's client; whatever a test switches for B is switched back on afterwards."""
    yield api_b
    for name, item in _listed(api_b).items():
        if not item["enabled"]:
            assert api_b.put(f"/v1/tools/{name}", json={"enabled": True}).status_code == 200


def test_the_catalogue_lists_agent_and_saga_tools_but_not_saga_steps(api: httpx.Client) -> None:
    tools = _listed(api)
    assert {"orders.lookup", "orders.cancel", TOOL} <= set(tools)
    assert {"orders.place", "orders.refund"} <= set(tools)
    assert not {"payments.charge", "inventory.reserve"} & set(tools)
    refund = tools["orders.refund"]
    assert (refund["saga"], refund["effect"], refund["enabled"]) == (True, "irreversible", True)
    assert refund["approval"]["argument"] == "amount_cents"
    lookup = tools["orders.lookup"]
    assert (lookup["version"], lookup["versions"], lookup["effect"], lookup["approval"]) == (1, [1], "read", None)
    assert lookup["description"]
    assert all(item["enabled"] for item in tools.values())


def test_a_switch_applies_to_its_tenant_only_and_is_audited(api: httpx.Client, restore_b: httpx.Client) -> None:
    response = restore_b.put(f"/v1/tools/{TOOL}", json={"enabled": False})
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["enabled"]) == (TOOL, False)
    assert _listed(restore_b)[TOOL]["enabled"] is False
    assert _listed(api)[TOOL]["enabled"] is True
    # Setting what is already set changes nothing and records nothing more.
    assert restore_b.put(f"/v1/tools/{TOOL}", json={"enabled": False}).status_code == 200
    audit = restore_b.get("/v1/audit", params={"action": "tool.disabled"}).json()["items"]
    mine = [event for event in audit if event["target"] == TOOL]
    assert len(mine) == 1 and mine[0]["details"] == {"previous": None}

    assert restore_b.put(f"/v1/tools/{TOOL}", json={"enabled": True}).json()["enabled"] is True
    enabled = restore_b.get("/v1/audit", params={"action": "tool.enabled"}).json()["items"]
    assert [e["details"] for e in enabled if e["target"] == TOOL][:1] == [{"previous": False}]


def test_unknown_and_malformed_tools_and_bodies_are_refused(api: httpx.Client) -> None:
    _error(api.put("/v1/tools/orders.teleport", json={"enabled": False}), 404, "tool_not_found")
    # Hidden saga steps are not the tenant's to switch.
    _error(api.put("/v1/tools/payments.charge", json={"enabled": False}), 404, "tool_not_found")
    for name in ("Orders.Lookup", "orders", "orders..lookup", "a" * 200):
        _error(api.put(f"/v1/tools/{name}", json={"enabled": False}), 422, "invalid_request")
    for body in ({}, {"enabled": "maybe"}, {"enabled": False, "tenant_id": "x"}):
        _error(api.put(f"/v1/tools/{TOOL}", json=body), 422, "invalid_request")
    assert _listed(api)[TOOL]["enabled"] is True


def test_a_viewer_may_read_but_not_switch(platform: Platform, api: httpx.Client) -> None:
    issued = api.post("/v1/api-keys", json={"name": f"viewer-{uuid.uuid4().hex[:6]}", "role": "viewer"})
    assert issued.status_code == 201, issued.text
    headers = {"Authorization": f"Bearer {issued.json()['api_key']}"}
    with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30.0) as viewer:
        assert TOOL in _listed(viewer)
        _error(viewer.put(f"/v1/tools/{TOOL}", json={"enabled": False}), 403, "forbidden")
    _error(httpx.get(f"{platform.base_url}/v1/tools", timeout=30.0), 401, "unauthenticated")
    assert _listed(api)[TOOL]["enabled"] is True


async def test_every_process_sees_a_switch_at_once(
    platform: Platform, restore_b: httpx.Client, tenant_b: tuple[str, str]
) -> None:
    db = Database(platform.settings.resolved_app_database_url(), pool_size=1)
    redis = Redis.from_url(platform.settings.redis_url or "", decode_responses=False)
    # A worker's cache, warm and long-lived: only the version key in Redis can tell it of the change.
    worker_view = ToolEnablement(db, redis=redis, ttl_seconds=3600)
    try:
        assert await worker_view.is_enabled(tenant_b[0], TOOL) is True
        assert restore_b.put(f"/v1/tools/{TOOL}", json={"enabled": False}).status_code == 200
        assert await worker_view.is_enabled(tenant_b[0], TOOL) is False
    finally:
        await redis.aclose()
        await db.close()


async def test_breaker_state_is_per_tenant_and_an_admin_closes_it(
    platform: Platform, api: httpx.Client, restore_b: httpx.Client, tenant_b: tuple[str, str]
) -> None:
    redis = Redis.from_url(platform.settings.redis_url or "", decode_responses=False)
    # The breaker the workers use, failing as a tool whose dependency is down would.
    breaker = CircuitBreaker(redis)
    try:
        for _ in range(breaker.failure_threshold):
            await breaker.record_failure(tenant_b[0], TOOL)
        assert _listed(restore_b)[TOOL]["breaker"] == "open"
        assert _listed(api)[TOOL]["breaker"] == "closed"
        assert restore_b.put(f"/v1/tools/{TOOL}", json={"enabled": True}).json()["breaker"] == "open"

        # Another tenant's key, a viewer, an unknown or hidden tool: refused, the circuit stays open.
        assert api.delete(f"/v1/tools/{TOOL}/breaker").status_code == 204  # closes A's own (already closed)
        assert await breaker.state(tenant_b[0], TOOL) == "open"
        issued = restore_b.post("/v1/api-keys", json={"name": f"viewer-{uuid.uuid4().hex[:6]}", "role": "viewer"})
        headers = {"Authorization": f"Bearer {issued.json()['api_key']}"}
        with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30.0) as viewer:
            assert _listed(viewer)[TOOL]["breaker"] == "open"
            _error(viewer.delete(f"/v1/tools/{TOOL}/breaker"), 403, "forbidden")
        _error(restore_b.delete("/v1/tools/payments.charge/breaker"), 404, "tool_not_found")
        _error(restore_b.delete("/v1/tools/Orders.Lookup/breaker"), 422, "invalid_request")
        assert await breaker.state(tenant_b[0], TOOL) == "open"

        assert restore_b.delete(f"/v1/tools/{TOOL}/breaker").status_code == 204
        assert _listed(restore_b)[TOOL]["breaker"] == "closed"
        assert (await breaker.before_call(tenant_b[0], TOOL)).allowed
        audit = restore_b.get("/v1/audit", params={"action": "tool.breaker_reset"}).json()["items"]
        assert [(e["target"], e["details"]) for e in audit] == [(TOOL, {"previous": "open"})]
        assert api.get("/v1/audit", params={"action": "tool.breaker_reset"}).json()["items"][0]["details"] == {
            "previous": "closed"
        }
    finally:
        await breaker.reset(tenant_b[0], TOOL)
        await redis.aclose()
