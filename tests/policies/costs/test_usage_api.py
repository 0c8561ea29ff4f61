"""`GET /v1/usage` through the gateway: grouping, totals, live reservations, validation and isolation."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from redis.asyncio import Redis

from db.database import Database, run_sql
from policies.cost_guard import CostGuard
from policies.ledger import LedgerKind, ledger_key
from tests.e2e.platform import Platform

from .conftest import ApiTenant, client_for


@dataclass(frozen=True)
class Call:
    day: str  # ISO date; "" for now
    agent: str
    model: str = ""
    tool: str = ""
    cost: str = "0.01"
    tokens: tuple[int, int] = (0, 0)


async def _seed(platform: Platform, tenant_id: str, calls: list[Call], *, live_reservations: int = 0) -> None:
    settings = platform.settings
    app = Database(settings.resolved_app_database_url(), pool_size=2)
    owner = Database(settings.database_url or "", pool_size=1)
    redis = Redis.from_url(settings.redis_url or "")
    guard = CostGuard(app, redis, None)
    try:
        for call in calls:
            key = ledger_key(f"{tenant_id}:conv:seed", str(uuid.uuid4()))
            await guard.reserve(
                tenant_id, key, kind=LedgerKind.TOOL if call.tool else LedgerKind.MODEL,
                estimate_usd=Decimal(1), workflow_id="wf", conversation_id=None, agent=call.agent,
                model=call.model, tool=call.tool,
            )  # fmt: skip
            await guard.settle(
                tenant_id,
                key,
                cost_usd=Decimal(call.cost),
                prompt_tokens=call.tokens[0],
                completion_tokens=call.tokens[1],
            )
            if call.day:
                # Back-date it; only the owner may rewrite history like this.
                async with owner.tenant_session(tenant_id) as session:
                    await run_sql(
                        session,
                        "UPDATE usage_ledger SET created_at = :at WHERE key = :k",
                        {"at": datetime.fromisoformat(f"{call.day}T12:00:00+00:00"), "k": key},
                    )
        for _ in range(live_reservations):
            await guard.reserve(
                tenant_id, ledger_key("wf", str(uuid.uuid4())), kind=LedgerKind.MODEL, estimate_usd=Decimal("0.25"),
                workflow_id="wf", conversation_id=None, agent="support", model="scripted/echo",
            )  # fmt: skip
    finally:
        await app.close()
        await owner.close()
        await redis.aclose()


RANGE = {"from": "2025-03-01", "to": "2025-03-31"}
CALLS = [
    Call("2025-03-01", "support", model="scripted/echo", cost="0.10", tokens=(100, 10)),
    Call("2025-03-01", "support", model="gpt-4o-mini", cost="0.20", tokens=(200, 20)),
    Call("2025-03-02", "orders", model="scripted/echo", cost="0.30", tokens=(300, 30)),
    Call("2025-03-02", "orders", tool="payments.charge", cost="0.05"),
    # Outside the range on either side.
    Call("2025-02-28", "support", model="scripted/echo", cost="9"),
    Call("2025-04-01", "support", model="scripted/echo", cost="9"),
]


@pytest.fixture
def seeded(platform: Platform, owner_a: tuple[ApiTenant, httpx.Client]) -> tuple[ApiTenant, httpx.Client]:
    asyncio.run(_seed(platform, owner_a[0].tenant_id, CALLS, live_reservations=2))
    return owner_a


def _groups(body: dict) -> dict[str, tuple[int, int, int, str]]:
    return {g["key"]: (g["calls"], g["prompt_tokens"], g["completion_tokens"], g["cost_usd"]) for g in body["groups"]}


def test_usage_groups_by_day_model_and_agent(seeded: tuple[ApiTenant, httpx.Client]) -> None:
    _tenant, api = seeded
    by_day = api.get("/v1/usage", params={**RANGE, "group_by": "day"})
    assert by_day.status_code == 200, by_day.text
    body = by_day.json()
    assert (body["from"], body["to"], body["group_by"]) == ("2025-03-01", "2025-03-31", "day")
    assert _groups(body) == {
        "2025-03-01": (2, 300, 30, "0.300000"),
        "2025-03-02": (2, 300, 30, "0.350000"),
    }
    assert body["totals"] == {"calls": 4, "prompt_tokens": 600, "completion_tokens": 60, "cost_usd": "0.650000"}
    assert body["reservations"] == {"count": 2, "reserved_usd": "0.500000"}

    by_model = api.get("/v1/usage", params={**RANGE, "group_by": "model"}).json()
    assert _groups(by_model) == {
        "gpt-4o-mini": (1, 200, 20, "0.200000"),
        "scripted/echo": (2, 400, 40, "0.400000"),
        "tool:payments.charge": (1, 0, 0, "0.050000"),
    }
    by_agent = api.get("/v1/usage", params={**RANGE, "group_by": "agent"}).json()
    assert _groups(by_agent) == {"orders": (2, 300, 30, "0.350000"), "support": (2, 300, 30, "0.300000")}


def test_usage_defaults_to_the_current_month(platform: Platform, owner_a: tuple[ApiTenant, httpx.Client]) -> None:
    tenant, api = owner_a
    asyncio.run(_seed(platform, tenant.tenant_id, [Call("", "support", model="scripted/echo", cost="0.42")]))
    body = api.get("/v1/usage").json()
    today = datetime.now(UTC).date()
    assert (body["from"], body["to"]) == (today.replace(day=1).isoformat(), today.isoformat())
    assert body["totals"]["cost_usd"] == "0.420000"
    assert _groups(body) == {today.isoformat(): (1, 0, 0, "0.420000")}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2025-03-02", "to": "2025-03-01"}, "invalid_range"),
        ({"from": "2024-01-01", "to": "2025-01-01"}, "range_too_long"),
        ({"from": "9999-12-01", "to": "9999-12-31"}, "invalid_range"),
        ({"from": "yesterday"}, "invalid_request"),
        ({"to": "2025-13-01"}, "invalid_request"),
        ({"group_by": "tenant"}, "invalid_request"),
        ({"group_by": "day; DROP TABLE usage_ledger"}, "invalid_request"),
    ],
)
def test_bad_queries_are_422(owner_a: tuple[ApiTenant, httpx.Client], params: dict[str, str], code: str) -> None:
    response = owner_a[1].get("/v1/usage", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


def test_a_full_leap_year_is_allowed(owner_a: tuple[ApiTenant, httpx.Client]) -> None:
    assert owner_a[1].get("/v1/usage", params={"from": "2024-01-01", "to": "2024-12-31"}).status_code == 200


def test_tenants_see_only_their_own_usage(
    platform: Platform,
    seeded: tuple[ApiTenant, httpx.Client],
    owner_b: tuple[ApiTenant, httpx.Client],
) -> None:
    a, _api_a = seeded
    _b, api_b = owner_b
    body = api_b.get("/v1/usage", params={**RANGE, "group_by": "model"}).json()
    assert body["groups"] == []
    assert body["totals"] == {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": "0"}
    assert body["reservations"]["count"] == 0
    assert a.tenant_id not in str(body)


def test_reading_usage_needs_tenant_read(platform: Platform, owner_a: tuple[ApiTenant, httpx.Client]) -> None:
    _tenant, api = owner_a
    viewer = api.post("/v1/api-keys", json={"name": "viewer", "role": "viewer"}).json()["api_key"]
    narrow = api.post(
        "/v1/api-keys", json={"name": "narrow", "role": "developer", "scopes": ["conversations:read"]}
    ).json()["api_key"]
    with client_for(platform, viewer) as client:
        assert client.get("/v1/usage").status_code == 200
    with client_for(platform, narrow) as client:
        response = client.get("/v1/usage")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
