"""`/v1/router/settings` through the gateway: read, replace, refuse models outside the region, audit, and
never reach another tenant's settings."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform

SETTINGS = "/v1/router/settings"


def _client(platform: Platform, key: str) -> httpx.Client:
    return httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)


def _tenant(platform: Platform, region: str = "eu-west") -> tuple[str, httpx.Client]:
    tenant_id, key = create_test_tenant(platform.settings, "Routing")
    if region != "eu-west":

        async def move() -> None:
            conn = await asyncpg.connect(platform.settings.database_url or "")
            try:
                await conn.execute("UPDATE tenants SET data_region = $1 WHERE id = $2", region, tenant_id)
            finally:
                await conn.close()

        asyncio.run(move())
    return tenant_id, _client(platform, key)


@pytest.fixture
def eu(platform: Platform) -> Iterator[tuple[str, httpx.Client]]:
    tenant_id, client = _tenant(platform)
    with client:
        yield tenant_id, client


@pytest.fixture
def us(platform: Platform) -> Iterator[tuple[str, httpx.Client]]:
    tenant_id, client = _tenant(platform, "us-east")
    with client:
        yield tenant_id, client


def test_a_new_tenant_routes_by_its_plan_and_sees_its_region_models(eu: tuple[str, httpx.Client]) -> None:
    body = eu[1].get(SETTINGS).json()
    assert body["pinned_model"] is None and body["forbidden_models"] == [] and body["quality_target"] is None
    assert body["region"] == "eu-west" and body["plan"] == "pro"
    names = {m["name"]: m["tier"] for m in body["allowed_models"]}
    assert names["azure/gpt-4o-mini-eu"] == "small" and names["azure/gpt-4o-eu"] == "large"
    assert "gpt-4o" not in names and "claude-3-5-sonnet-20241022" not in names


def test_replacing_settings_is_audited(eu: tuple[str, httpx.Client]) -> None:
    api = eu[1]
    wanted = {
        "pinned_model": "azure/gpt-4o-eu",
        "forbidden_models": ["mistral/mistral-small-latest"],
        "quality_target": 0.9,
    }
    response = api.put(SETTINGS, json=wanted)
    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in wanted} == wanted
    assert {k: api.get(SETTINGS).json()[k] for k in wanted} == wanted
    assert api.put(SETTINGS, json={}).json()["pinned_model"] is None  # PUT replaces whole
    audit = api.get("/v1/audit", params={"action": "router.settings_updated"}).json()["items"]
    assert len(audit) == 2 and audit[0]["details"]["pinned_model"] in ("azure/gpt-4o-eu", None)


@pytest.mark.parametrize("model", ["gpt-4o", "claude-3-5-haiku-20241022", "openai/some-unknown-model"])
def test_a_model_outside_the_region_is_refused(eu: tuple[str, httpx.Client], model: str) -> None:
    response = eu[1].put(SETTINGS, json={"pinned_model": model})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "model_not_in_region" and error["details"] == {"model": model, "region": "eu-west"}
    assert eu[1].get(SETTINGS).json()["pinned_model"] is None


def test_the_region_decides_what_may_be_pinned_or_tried_as_a_canary(us: tuple[str, httpx.Client]) -> None:
    assert us[1].put(SETTINGS, json={"pinned_model": "gpt-4o"}).status_code == 200
    refused = us[1].put(SETTINGS, json={"pinned_model": "azure/gpt-4o-eu"})
    assert refused.status_code == 422 and refused.json()["error"]["details"]["region"] == "us-east"
    assert us[1].get(SETTINGS).json()["pinned_model"] == "gpt-4o"
    canary = us[1].put(SETTINGS, json={"canary_model": "claude-3-5-haiku-20241022", "canary_share": 0.1})
    assert canary.status_code == 200 and canary.json()["canary_share"] == 0.1
    abroad = us[1].put(SETTINGS, json={"canary_model": "mistral/mistral-small-latest", "canary_share": 0.1})
    assert abroad.status_code == 422 and abroad.json()["error"]["code"] == "model_not_in_region"
    assert us[1].get(SETTINGS).json()["canary_model"] == "claude-3-5-haiku-20241022"


@pytest.mark.parametrize(
    "body",
    [
        {"quality_target": 0},
        {"quality_target": 1.5},
        {"quality_target": "high"},
        {"pinned_model": ""},
        {"pinned_model": "a b"},
        {"forbidden_models": "gpt-4o"},
        {"forbidden_models": ["x"] * 65},
        {"pinned_model": "scripted/echo", "forbidden_models": ["scripted/echo"]},
        {"threshold": 0.5},
        {"canary_model": "scripted/echo", "canary_share": 1.5},
        {"canary_model": "scripted/echo", "canary_share": -0.1},
        {"canary_model": "scripted/echo", "forbidden_models": ["scripted/echo"]},
        {"early_exit": "yes"},
        {"early_exit": 1},
        {"early_exit": None},
        {"tool_answers": "true"},
        {"tool_answers": 0},
    ],
)
def test_invalid_settings_are_422(eu: tuple[str, httpx.Client], body: dict[str, Any]) -> None:
    response = eu[1].put(SETTINGS, json=body)
    assert response.status_code == 422, response.text
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_another_tenant_neither_reads_nor_changes_these_settings(
    platform: Platform, eu: tuple[str, httpx.Client], us: tuple[str, httpx.Client]
) -> None:
    eu_id, api_eu = eu
    _us_id, api_us = us
    assert api_eu.put(SETTINGS, json={"pinned_model": "azure/gpt-4o-eu"}).status_code == 200
    # B writes its own row only: A's pin stands, and B reads nothing of A's.
    assert api_us.put(SETTINGS, json={"forbidden_models": ["gpt-4o-mini"]}).status_code == 200
    seen_by_b = api_us.get(SETTINGS)
    assert seen_by_b.json()["pinned_model"] is None and eu_id not in seen_by_b.text
    assert api_eu.get(SETTINGS).json()["pinned_model"] == "azure/gpt-4o-eu"
    assert api_eu.get(SETTINGS).json()["forbidden_models"] == []
    # A member of A who may only read cannot change them.
    key = api_eu.post("/v1/api-keys", json={"name": "ro", "role": "viewer"}).json()["api_key"]
    with _client(platform, key) as viewer:
        assert viewer.get(SETTINGS).status_code == 200
        refused = viewer.put(SETTINGS, json={})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    # No credentials, no settings.
    with httpx.Client(base_url=platform.base_url, timeout=30.0) as anonymous:
        assert anonymous.get(SETTINGS).status_code == 401


def test_early_exit_is_off_by_default_and_per_tenant(
    eu: tuple[str, httpx.Client], us: tuple[str, httpx.Client]
) -> None:
    _eu_id, api_eu = eu
    _us_id, api_us = us
    assert api_eu.get(SETTINGS).json()["early_exit"] is False
    assert api_eu.put(SETTINGS, json={"early_exit": True}).json()["early_exit"] is True
    # Another tenant's opt-in is its own: B stays off, and B's PUT leaves A's on.
    assert api_us.get(SETTINGS).json()["early_exit"] is False
    assert api_us.put(SETTINGS, json={"early_exit": False}).status_code == 200
    assert api_eu.get(SETTINGS).json()["early_exit"] is True
    # Tool answers are a switch of their own, per tenant too.
    both = api_eu.put(SETTINGS, json={"early_exit": False, "tool_answers": True}).json()
    assert (both["early_exit"], both["tool_answers"]) == (False, True)
    assert api_us.get(SETTINGS).json()["tool_answers"] is False
    assert api_eu.get(SETTINGS).json()["tool_answers"] is True
