"""Admission of starts: the tenant's start rate in the real Redis, and through a gateway of the platform the
429s of the start rate and of the fair start queue, each the tenant's own, with nothing lost."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from policies.rate_limit import Rate
from policies.start_rate import StartRateLimiter
from tenancy.tenants import create_tenant
from tests.e2e.platform import Platform

from .conftest import MakeTenant, Tenant, gateway_process

# The gateway under test: pro tenants may start 3 turns at once, then one each 5 s; starts of the other plans
# pass the bucket but meet a fair start queue with one engine call at a time and no room to wait.
START_RATE = {"pro": {"per_minute": 12, "burst": 3}}


async def test_the_bucket_admits_its_burst_then_refuses_until_it_refills(redis: Redis) -> None:
    limiter = StartRateLimiter(redis)
    tenant, other = str(uuid.uuid4()), str(uuid.uuid4())
    rate = Rate(per_minute=60, burst=3)  # one a second
    decisions = [await limiter.take(tenant, rate) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    refusal = decisions[3]
    assert 0 < refusal.retry_after_seconds <= 1 and refusal.retry_after_header == "1"
    # Another tenant's bucket is full whatever this one did.
    assert (await limiter.take(other, rate)).allowed
    # A refusal took nothing: once one interval has passed, exactly one start is admitted again.
    await asyncio.sleep(refusal.retry_after_seconds + 0.05)
    assert (await limiter.take(tenant, rate)).allowed
    assert not (await limiter.take(tenant, rate)).allowed


@pytest.fixture(scope="module")
def gateway(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "AIAAS_START_RATES": json.dumps(START_RATE),
        "AIAAS_START_QUEUE_IN_FLIGHT": "1",
        "AIAAS_START_QUEUE_PER_TENANT": "0",
    }
    # A gateway imports a lot at start; on a busy shared machine that alone can take a minute.
    with gateway_process(platform, tmp_path_factory, "start-admission-gateway", ready_timeout=180, **env) as url:
        _warm_up(url, make_module_tenant(platform))
        yield url


def make_module_tenant(platform: Platform) -> Tenant:
    created = asyncio.run(
        create_tenant(
            platform.settings.database_url or "",
            name=f"Start warm-up {uuid.uuid4().hex[:6]}",
            plan="enterprise",
            pepper=platform.settings.api_key_pepper.get_secret_value(),
        )
    )
    return Tenant(created.tenant_id, created.api_key, "enterprise")


def _warm_up(url: str, tenant: Tenant) -> None:
    """One turn through the gateway before the tests, so a cold worker's first workflow task on a busy
    machine does not take longer than the 15 s a submission waits for its confirmation."""
    conversation = _conversation(url, tenant)
    for _ in range(4):
        if _post(url, tenant, conversation, "warm-up").status_code == 202:
            return
    pytest.fail("the gateway never took a first message")


def _conversation(url: str, tenant: Tenant) -> str:
    response = httpx.post(f"{url}/v1/conversations", json={}, headers=tenant.headers, timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _post(url: str, tenant: Tenant, conversation: str, client_message_id: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/conversations/{conversation}/messages",
        json={"content": "hello", "client_message_id": client_message_id},
        headers=tenant.headers,
        timeout=60,
    )


def _used(url: str, tenant: Tenant) -> int:
    limits = httpx.get(f"{url}/v1/limits", headers=tenant.headers, timeout=30).json()
    return int(limits["quotas"]["messages"]["used"])


def _refusal(response: httpx.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert int(response.headers["Retry-After"]) >= 1
    return dict(error["details"])


def test_past_its_start_rate_a_tenant_gets_a_429_and_its_retry_goes_through(
    gateway: str, make_tenant: MakeTenant
) -> None:
    noisy, quiet = make_tenant("pro"), make_tenant("pro")
    # `/v1/limits` shows the start rate the gateway applies: the plan's, overridden by settings here.
    limits = httpx.get(f"{gateway}/v1/limits", headers=noisy.headers, timeout=30).json()
    assert limits["start_rate"] == START_RATE["pro"]

    conversations = [_conversation(gateway, noisy) for _ in range(8)]
    responses: list[httpx.Response] = []
    for n, conversation in enumerate(conversations):
        responses.append(_post(gateway, noisy, conversation, f"m-{n}"))
        if responses[-1].status_code != 202:
            break
    accepted = len(responses) - 1
    # The burst goes through (more if the bucket refilled on a slow machine), then one start is refused.
    assert accepted >= 3, [r.status_code for r in responses]
    refused = responses[-1]
    details = _refusal(refused, "start_rate_limited")
    assert details["limit"] == 3 and details["retry_after_seconds"] >= 1
    # The refused message handed its quota back: only the accepted ones count.
    assert _used(gateway, noisy) == accepted
    # Another tenant on the same plan and gateway starts at once: the bucket is the noisy tenant's own.
    assert _post(gateway, quiet, _conversation(gateway, quiet), "q-0").status_code == 202

    time.sleep(int(refused.headers["Retry-After"]))
    retried = _post(gateway, noisy, conversations[accepted], f"m-{accepted}")
    assert retried.status_code == 202, retried.text
    assert not retried.json()["duplicate"]
    assert _used(gateway, noisy) == accepted + 1


def test_a_flood_past_the_start_queue_is_refused_for_its_tenant_and_nothing_is_lost(
    gateway: str, make_tenant: MakeTenant
) -> None:
    noisy, quiet = make_tenant("enterprise"), make_tenant("enterprise")
    conversations = [_conversation(gateway, noisy) for _ in range(8)]
    quiet_conversation = _conversation(gateway, quiet)

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gateway, headers=noisy.headers, timeout=60) as http:
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            f"/v1/conversations/{c}/messages", json={"content": "hello", "client_message_id": f"f-{n}"}
                        )
                        for n, c in enumerate(conversations)
                    )
                )
            )

    responses = asyncio.run(flood())
    codes = sorted(r.status_code for r in responses)
    # One engine call at a time and no room to wait: the starts that met a busy slot were refused, never
    # failed, and said when to come back. (A 503 `not_confirmed` is a slow engine's answer, not a refusal.)
    assert set(codes) <= {202, 429, 503}, codes
    unconfirmed = [r for r in responses if r.status_code == 503]
    assert all(r.json()["error"]["code"] == "not_confirmed" for r in unconfirmed)
    refused = [n for n, r in enumerate(responses) if r.status_code == 429]
    assert refused, "eight simultaneous starts through one slot all found it free"
    for n in refused:
        _refusal(responses[n], "start_queue_full")
    if not unconfirmed:
        # Refused messages handed their quota back.
        assert _used(gateway, noisy) == codes.count(202)

    # The quiet tenant's start is not held by the noisy tenant's refusals.
    assert _post(gateway, quiet, quiet_conversation, "q-0").status_code == 202
    # Every message not taken in, sent again with its client_message_id, is taken in exactly once.
    for n, response in enumerate(responses):
        if response.status_code == 202:
            continue
        again = _post(gateway, noisy, conversations[n], f"f-{n}")
        assert again.status_code == 202, again.text
        assert n not in refused or not again.json()["duplicate"]
    if not unconfirmed:
        assert _used(gateway, noisy) == len(conversations)
