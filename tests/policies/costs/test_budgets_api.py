"""`/v1/budgets` through the gateway: read, replace (validated, audited), who may, and the mode it yields."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.e2e.platform import Platform

from .conftest import ApiTenant, client_for
from .test_usage_api import Call, _seed

EMPTY = {"daily_soft_usd": None, "daily_hard_usd": None, "monthly_soft_usd": None, "monthly_hard_usd": None}


def test_a_new_tenant_has_no_limits_and_runs_normally(owner_a: tuple[ApiTenant, httpx.Client]) -> None:
    body = owner_a[1].get("/v1/budgets").json()
    assert body["limits"] == EMPTY
    assert body["mode"] == "normal"
    assert body["spend"] == {"day_usd": "0", "month_usd": "0", "reserved_usd": "0"}
    assert body["percent_used"] == {"daily_soft": None, "daily_hard": None, "monthly_soft": None, "monthly_hard": None}


def test_replacing_limits_is_audited_and_drives_the_mode(
    platform: Platform, owner_a: tuple[ApiTenant, httpx.Client]
) -> None:
    tenant, api = owner_a
    asyncio.run(_seed(platform, tenant.tenant_id, [Call("", "support", model="scripted/echo", cost="3")]))
    response = api.put("/v1/budgets", json={"monthly_soft_usd": 2.5, "monthly_hard_usd": "10"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["limits"] == {**EMPTY, "monthly_soft_usd": "2.500000", "monthly_hard_usd": "10.000000"}
    assert body["mode"] == "safe"
    assert body["percent_used"]["monthly_hard"] == 30.0 and body["percent_used"]["monthly_soft"] == 120.0
    assert body["spend"]["month_usd"] == "3.000000"

    blocked = api.put("/v1/budgets", json={"daily_hard_usd": "2"}).json()
    assert blocked["limits"] == {**EMPTY, "daily_hard_usd": "2.000000"}  # PUT replaces: the rest is cleared
    assert blocked["mode"] == "blocked"
    assert api.get("/v1/budgets").json()["mode"] == "blocked"
    assert api.put("/v1/budgets", json={}).json()["mode"] == "normal"

    audit = api.get("/v1/audit", params={"action": "budget.updated"}).json()["items"]
    assert len(audit) == 3
    assert audit[-1]["details"] == {"monthly_soft_usd": "2.500000", "monthly_hard_usd": "10.000000"}


@pytest.mark.parametrize(
    "body",
    [
        {"daily_soft_usd": -1},
        {"daily_soft_usd": 5, "daily_hard_usd": 4},
        {"monthly_soft_usd": "11", "monthly_hard_usd": "10.5"},
        {"daily_hard_usd": "0.0000001"},
        {"monthly_hard_usd": 1e12},
        {"monthly_hard_usd": "NaN"},
        {"monthly_hard_usd": "Infinity"},
        {"monthly_hard_usd": "ten dollars"},
        {"monthly_hard_usd": [1]},
        {"yearly_hard_usd": 5},
    ],
)
def test_invalid_limits_are_422(owner_a: tuple[ApiTenant, httpx.Client], body: dict[str, Any]) -> None:
    response = owner_a[1].put("/v1/budgets", json=body)
    assert response.status_code == 422, response.text
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert owner_a[1].get("/v1/budgets").json()["limits"] == EMPTY


@pytest.mark.parametrize("role", ["admin", "developer", "viewer"])
def test_only_owners_change_limits(platform: Platform, owner_a: tuple[ApiTenant, httpx.Client], role: str) -> None:
    _tenant, api = owner_a
    key = api.post("/v1/api-keys", json={"name": role, "role": role}).json()["api_key"]
    with client_for(platform, key) as client:
        response = client.put("/v1/budgets", json={"daily_hard_usd": 1})
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
        assert client.get("/v1/budgets").status_code == 200
    assert api.get("/v1/budgets").json()["limits"] == EMPTY


def test_limits_belong_to_their_tenant(
    owner_a: tuple[ApiTenant, httpx.Client], owner_b: tuple[ApiTenant, httpx.Client]
) -> None:
    assert owner_a[1].put("/v1/budgets", json={"daily_hard_usd": "0"}).json()["mode"] == "blocked"
    other = owner_b[1].get("/v1/budgets").json()
    assert other["limits"] == EMPTY and other["mode"] == "normal"
