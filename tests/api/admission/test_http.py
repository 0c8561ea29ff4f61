"""Admission through the platform's gateway: refusals with their bodies and headers, quotas, budgets,
concurrent-turn slots, `/v1/limits`, and admission on every /v1 route."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from db.database import Database
from policies.budgets import Budget, save_budget
from policies.concurrency import ConcurrencyLeases
from policies.cost_guard import CostGuard
from policies.ledger import month_tokens_key
from policies.quotas import MessageQuota, month_of, resets_at
from tenancy.plans import RouteClass, limits_for
from tests.e2e.platform import Platform

from .conftest import MakeTenant, Tenant


@pytest.fixture
def client(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.base_url, timeout=30.0) as http:
        yield http


def _conversation(client: httpx.Client, tenant: Tenant) -> str:
    response = client.post("/v1/conversations", json={}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _post(client: httpx.Client, tenant: Tenant, conversation: str, **body: Any) -> httpx.Response:
    return client.post(
        f"/v1/conversations/{conversation}/messages", json={"content": "hello", **body}, headers=tenant.headers
    )


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return dict(error["details"] or {})


def _limits(client: httpx.Client, tenant: Tenant) -> dict[str, Any]:
    response = client.get("/v1/limits", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _redis_call(platform: Platform, action: Any) -> Any:
    async def run() -> Any:
        redis = Redis.from_url(platform.settings.redis_url or "")
        try:
            return await action(redis)
        finally:
            await redis.aclose()

    return asyncio.run(run())


def test_a_free_burst_is_limited_with_a_429_that_says_when_to_retry(
    client: httpx.Client, make_tenant: MakeTenant
) -> None:
    tenant = make_tenant("free")
    rate = limits_for("free").rate_for(RouteClass.MESSAGES)
    started = time.monotonic()
    admitted: list[httpx.Response] = []
    for _ in range(300):
        response = client.post("/v1/conversations", json={}, headers=tenant.headers)
        if response.status_code != 201:
            break
        admitted.append(response)
    elapsed = time.monotonic() - started
    # The burst, plus whatever refilled while the requests were being made; never a few hundred.
    assert rate.burst <= len(admitted) <= rate.burst + int(elapsed * rate.per_minute / 60) + 1
    assert [r.headers["RateLimit-Limit"] for r in admitted[:3]] == [str(rate.burst)] * 3
    assert [int(r.headers["RateLimit-Remaining"]) for r in admitted[:3]] == [rate.burst - n for n in (1, 2, 3)]

    details = _error(response, 429, "rate_limited")
    assert details["scope"] == "tenant"
    assert details["route_class"] == "messages"
    assert details["limit"] == rate.burst
    assert details["retry_after_seconds"] >= 1
    assert response.headers["Retry-After"] == str(details["retry_after_seconds"])
    assert response.headers["RateLimit-Remaining"] == "0"
    assert int(response.headers["RateLimit-Reset"]) >= 1

    # Reads draw on their own bucket: the tenant can still look at its limits.
    assert client.get("/v1/limits", headers=tenant.headers).status_code == 200
    metrics = client.get("/metrics").text
    # The refusals are counted under the tenant (one of the first tenants this gateway met).
    assert (
        f'admission_decisions_total{{decision="refused",reason="rate_limited",tenant="{tenant.tenant_id}"}}' in metrics
    )


def test_health_and_metrics_are_not_limited(client: httpx.Client) -> None:
    for path in ("/healthz", "/metrics"):
        response = client.get(path)
        assert response.status_code == 200
        assert "RateLimit-Limit" not in response.headers


def test_a_spent_message_quota_refuses_new_turns_and_shows_in_limits(
    client: httpx.Client, make_tenant: MakeTenant, platform: Platform
) -> None:
    tenant = make_tenant("free")
    limit = limits_for("free").monthly_messages
    month = month_of()
    conversation = _conversation(client, tenant)
    _redis_call(platform, lambda r: MessageQuota(r).set_used(tenant.tenant_id, month, limit - 1))

    assert _post(client, tenant, conversation).status_code == 202
    refused = _post(client, tenant, conversation)
    details = _error(refused, 429, "quota_exceeded")
    assert details["quota"] == "messages"
    assert (details["limit"], details["used"]) == (limit, limit)
    assert details["resets_at"] == resets_at(month).isoformat().replace("+00:00", "Z")
    assert int(refused.headers["Retry-After"]) >= 1

    quota = _limits(client, tenant)["quotas"]["messages"]
    assert (quota["limit"], quota["used"], quota["remaining"]) == (limit, limit, 0)
    assert quota["resets_at"] == details["resets_at"]


def test_spent_tokens_refuse_new_turns(client: httpx.Client, make_tenant: MakeTenant, platform: Platform) -> None:
    tenant = make_tenant("free")
    limit = limits_for("free").monthly_tokens
    conversation = _conversation(client, tenant)
    key = month_tokens_key(tenant.tenant_id, month_of())
    _redis_call(platform, lambda r: r.set(key, limit))

    details = _error(_post(client, tenant, conversation), 429, "quota_exceeded")
    assert (details["quota"], details["limit"], details["used"]) == ("tokens", limit, limit)
    # Refused before the message counter was touched.
    assert _limits(client, tenant)["quotas"]["messages"]["used"] == 0
    assert _limits(client, tenant)["quotas"]["tokens"]["remaining"] == 0


def test_a_blocked_budget_answers_402(client: httpx.Client, make_tenant: MakeTenant, platform: Platform) -> None:
    tenant = make_tenant("pro")
    conversation = _conversation(client, tenant)

    async def set_budget(budget: Budget) -> None:
        db = Database(platform.settings.resolved_app_database_url(), pool_size=1)
        redis = Redis.from_url(platform.settings.redis_url or "")
        try:
            async with db.tenant_session(tenant.tenant_id) as session:
                await save_budget(session, tenant.tenant_id, budget)
            await CostGuard(db, redis).invalidate(tenant.tenant_id)
        finally:
            await redis.aclose()
            await db.close()

    asyncio.run(set_budget(Budget(daily_hard_usd=Decimal(0))))
    details = _error(_post(client, tenant, conversation), 402, "budget_exceeded")
    assert details["budget_mode"] == "blocked"
    limits = _limits(client, tenant)
    assert limits["budget_mode"] == "blocked"
    assert limits["quotas"]["messages"]["used"] == 0

    asyncio.run(set_budget(Budget()))
    assert _post(client, tenant, conversation).status_code == 202


def test_turns_past_the_concurrency_limit_are_refused_and_hand_back_their_quota(
    client: httpx.Client, make_tenant: MakeTenant, platform: Platform
) -> None:
    tenant = make_tenant("free")
    limit = limits_for("free").concurrent_turns
    conversation = _conversation(client, tenant)
    held = [f"elsewhere-{n}" for n in range(limit)]

    async def hold(redis: Redis) -> None:
        for lease in held:
            assert await ConcurrencyLeases(redis).acquire(tenant.tenant_id, lease, limit, 60)

    _redis_call(platform, hold)
    refused = _post(client, tenant, conversation)
    details = _error(refused, 429, "concurrency_limited")
    assert details["limit"] == limit
    assert int(refused.headers["Retry-After"]) >= 1
    limits = _limits(client, tenant)
    assert (limits["concurrency"]["limit"], limits["concurrency"]["in_use"]) == (limit, limit)
    assert limits["quotas"]["messages"]["used"] == 0

    _redis_call(platform, lambda r: ConcurrencyLeases(r).release(tenant.tenant_id, held[0]))
    assert _post(client, tenant, conversation).status_code == 202
    assert _limits(client, tenant)["quotas"]["messages"]["used"] == 1


def test_a_waiting_message_gets_the_slot_another_turn_frees(
    client: httpx.Client, make_tenant: MakeTenant, platform: Platform
) -> None:
    tenant = make_tenant("pro")
    plan = limits_for("pro")
    assert plan.concurrency_wait_seconds >= 2
    conversation = _conversation(client, tenant)
    held = [f"elsewhere-{n}" for n in range(plan.concurrent_turns)]

    async def hold(redis: Redis) -> None:
        for lease in held:
            await ConcurrencyLeases(redis).acquire(tenant.tenant_id, lease, plan.concurrent_turns, 60)

    _redis_call(platform, hold)

    async def post_then_free() -> httpx.Response:
        async with httpx.AsyncClient(base_url=client.base_url, timeout=30) as http:
            posting = asyncio.create_task(
                http.post(f"/v1/conversations/{conversation}/messages", json={"content": "hi"}, headers=tenant.headers)
            )
            await asyncio.sleep(0.5)
            assert not posting.done()
            redis = Redis.from_url(platform.settings.redis_url or "")
            try:
                await ConcurrencyLeases(redis).release(tenant.tenant_id, held[0])
            finally:
                await redis.aclose()
            return await posting

    assert asyncio.run(post_then_free()).status_code == 202


def test_a_repeated_message_is_counted_once(client: httpx.Client, make_tenant: MakeTenant) -> None:
    tenant = make_tenant("pro")
    conversation = _conversation(client, tenant)
    first = _post(client, tenant, conversation, client_message_id="same-one")
    second = _post(client, tenant, conversation, client_message_id="same-one")
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["duplicate"] and second.json()["message_id"] == first.json()["message_id"]
    assert _limits(client, tenant)["quotas"]["messages"]["used"] == 1


def test_limits_are_the_callers_own(client: httpx.Client, make_tenant: MakeTenant, platform: Platform) -> None:
    free, pro = make_tenant("free"), make_tenant("pro")
    _redis_call(platform, lambda r: MessageQuota(r).set_used(free.tenant_id, month_of(), 7))
    _redis_call(platform, lambda r: ConcurrencyLeases(r).acquire(free.tenant_id, "turn", 2, 60))

    mine, theirs = _limits(client, free), _limits(client, pro)
    assert (mine["plan"], mine["quotas"]["messages"]["used"], mine["concurrency"]["in_use"]) == ("free", 7, 1)
    assert (theirs["plan"], theirs["quotas"]["messages"]["used"], theirs["concurrency"]["in_use"]) == ("pro", 0, 0)
    assert free.tenant_id not in str(theirs)
    plan = limits_for("pro")
    assert theirs["rate_limits"]["messages"] == {
        "tenant": plan.rate_for(RouteClass.MESSAGES).model_dump(),
        "key": plan.key_rate_for(RouteClass.MESSAGES).model_dump(),
    }
    assert theirs["concurrency"]["wait_seconds"] == plan.concurrency_wait_seconds
    assert theirs["shedding"] == {"level": 0, "new_turns_admitted": True}
    assert client.get("/v1/limits").status_code == 401


def test_every_v1_route_answers_with_rate_limit_headers(client: httpx.Client, make_tenant: MakeTenant) -> None:
    tenant = make_tenant("enterprise")
    schema = client.get("/openapi.json").json()
    unlimited = []
    for path, operations in schema["paths"].items():
        # Signup has no tenant to admit yet: its own limits per address and email domain answer 429 with
        # Retry-After (tests/api/test_signup_api.py). Nor has accepting an invitation (an identity without a
        # tenant): the console's edge limit per address answers it (api/routes/invitations.py).
        if not path.startswith("/v1/") or path.startswith(("/v1/signup", "/v1/invitations/accept")):
            continue
        for method in operations:
            url = path
            for segment in path.split("/"):
                if segment.startswith("{"):
                    url = url.replace(segment, str(uuid.uuid4()))
            headers = dict(tenant.headers)
            if url.endswith("/events"):
                headers["Last-Event-ID"] = "not-a-cursor"  # answers at once instead of streaming
            response = client.request(method.upper(), url, headers=headers, json={})
            # A server error is answered outside every middleware; the fuzz run reports those.
            if response.status_code < 500 and "RateLimit-Limit" not in response.headers:
                unlimited.append(f"{method.upper()} {path}")
    assert not unlimited
