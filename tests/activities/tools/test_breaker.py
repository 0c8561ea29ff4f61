"""The circuit breaker in Redis: its states, one probe at a time, shared by every worker, and in the runtime."""

# Fixtures come in by import (parameters then shadow the imported names).
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from redis.asyncio import Redis

from agents.steps import turn_steps
from policies.circuit_breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, breaker_keys
from tests.activities.tools.runtime_fixtures import HEALTHY, LEDGER, ToolHarness, harness, redis  # noqa: F401


def _tenant() -> str:
    return str(uuid.uuid4())


async def _until(breaker: CircuitBreaker, tenant: str, tool: str, state: str) -> None:
    for _ in range(200):
        if await breaker.state(tenant, tool) == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the circuit never became {state}")


@pytest.fixture
def breaker(redis: Redis) -> CircuitBreaker:
    return CircuitBreaker(redis, failure_threshold=3, window_seconds=30, open_seconds=0.3, probe_seconds=30)


async def test_closed_open_half_open_closed(breaker: CircuitBreaker) -> None:
    tenant, tool = _tenant(), "orders.lookup"
    assert await breaker.state(tenant, tool) == CLOSED
    for _ in range(2):
        await breaker.record_failure(tenant, tool)
        assert (await breaker.before_call(tenant, tool)).allowed
    await breaker.record_failure(tenant, tool)
    refused = await breaker.before_call(tenant, tool)
    assert (refused.allowed, refused.state) == (False, OPEN)
    assert 0 < refused.retry_after_seconds <= 0.3

    await _until(breaker, tenant, tool, HALF_OPEN)
    probe = await breaker.before_call(tenant, tool)
    assert (probe.allowed, probe.state) == (True, HALF_OPEN)
    # While the probe is out, everyone else still fails fast.
    others = [await breaker.before_call(tenant, tool) for _ in range(3)]
    assert [(d.allowed, d.state) for d in others] == [(False, HALF_OPEN)] * 3

    await breaker.record_success(tenant, tool)
    assert await breaker.state(tenant, tool) == CLOSED
    # The counters were reset: two new failures are below the threshold again.
    await breaker.record_failure(tenant, tool)
    await breaker.record_failure(tenant, tool)
    assert (await breaker.before_call(tenant, tool)).allowed


async def test_a_failed_probe_opens_the_circuit_again(breaker: CircuitBreaker) -> None:
    tenant, tool = _tenant(), "orders.lookup"
    for _ in range(3):
        await breaker.record_failure(tenant, tool)
    await _until(breaker, tenant, tool, HALF_OPEN)
    assert (await breaker.before_call(tenant, tool)).allowed
    await breaker.record_failure(tenant, tool)
    again = await breaker.before_call(tenant, tool)
    assert (again.allowed, again.state) == (False, OPEN) and again.retry_after_seconds > 0
    # The cool-down starts over, then exactly one probe again.
    await _until(breaker, tenant, tool, HALF_OPEN)
    assert (await breaker.before_call(tenant, tool)).allowed
    assert not (await breaker.before_call(tenant, tool)).allowed


async def test_only_one_of_many_concurrent_callers_is_the_probe(breaker: CircuitBreaker) -> None:
    tenant, tool = _tenant(), "payments.charge"
    for _ in range(3):
        await breaker.record_failure(tenant, tool)
    await _until(breaker, tenant, tool, HALF_OPEN)
    decisions = await asyncio.gather(*(breaker.before_call(tenant, tool) for _ in range(25)))
    assert sum(d.allowed for d in decisions) == 1


async def test_two_workers_share_one_circuit(redis: Redis) -> None:
    settings = {"failure_threshold": 2, "window_seconds": 30, "open_seconds": 0.3}
    one, two = CircuitBreaker(redis, **settings), CircuitBreaker(redis, **settings)  # type: ignore[arg-type]
    tenant, tool = _tenant(), "crm.upsert"
    await one.record_failure(tenant, tool)
    await two.record_failure(tenant, tool)
    assert not (await one.before_call(tenant, tool)).allowed
    assert not (await two.before_call(tenant, tool)).allowed
    await _until(one, tenant, tool, HALF_OPEN)
    assert (await two.before_call(tenant, tool)).allowed  # worker two holds the probe
    assert not (await one.before_call(tenant, tool)).allowed
    await two.record_success(tenant, tool)
    assert await one.state(tenant, tool) == CLOSED


async def test_failures_outside_the_window_do_not_add_up(redis: Redis) -> None:
    breaker = CircuitBreaker(redis, failure_threshold=2, window_seconds=0.2, open_seconds=5)
    tenant, tool = _tenant(), "orders.lookup"
    await breaker.record_failure(tenant, tool)
    await asyncio.sleep(0.3)
    await breaker.record_failure(tenant, tool)
    assert await breaker.state(tenant, tool) == CLOSED
    await breaker.record_failure(tenant, tool)
    assert await breaker.state(tenant, tool) == OPEN


async def test_a_lost_probe_is_replaced_once_its_lease_lapses(redis: Redis) -> None:
    breaker = CircuitBreaker(redis, failure_threshold=1, window_seconds=30, open_seconds=0.2, probe_seconds=0.3)
    tenant, tool = _tenant(), "shipping.create"
    await breaker.record_failure(tenant, tool)
    await _until(breaker, tenant, tool, HALF_OPEN)
    assert (await breaker.before_call(tenant, tool)).allowed  # this probe's worker then dies
    assert not (await breaker.before_call(tenant, tool)).allowed
    for _ in range(100):
        if (await breaker.before_call(tenant, tool)).allowed:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no new probe after the lease lapsed")


async def test_the_keys_expire_and_belong_to_the_tenant(breaker: CircuitBreaker, redis: Redis) -> None:
    tenant, tool = _tenant(), "orders.lookup"
    for _ in range(3):
        await breaker.record_failure(tenant, tool)
    state_key, failures_key = breaker_keys(tenant, tool)
    assert f"{{{tenant}:" in state_key and await redis.pttl(state_key) > 0
    assert await redis.exists(failures_key) == 0  # the failures were forgotten when it opened
    # Another tenant's circuit for the same tool is untouched.
    assert (await breaker.before_call(_tenant(), tool)).allowed


async def test_the_runtime_fails_fast_while_open_and_recovers_through_a_probe(harness: ToolHarness) -> None:
    # The harness's breaker opens after 2 failures and stays open for 3 s.
    crashes = [harness.call("tests.crash", {"order_id": "o-1"}) for _ in range(2)]
    for call in crashes:
        assert (await harness.run(call)).error_type == "ToolCrashed"
    refused = harness.call("tests.crash", {"order_id": "o-1"})
    outcome = await harness.run(refused)
    # Not retried: the tool's policy lists it; it is not marked final itself, so compensations may retry it.
    assert (outcome.error_type, outcome.non_retryable) == ("ToolUnavailable", False)
    assert outcome.details[1]["retry_after_seconds"] > 0
    assert refused.call_id not in LEDGER
    events = await harness.events(refused)
    assert Counter(e.type for e in events) == {"tool.unavailable": 1}
    async with harness.db.tenant_session(harness.tenant_id) as session:
        [row] = await turn_steps(session, refused.message_id)
    assert (row.status, row.error_type, row.attempts) == ("unavailable", "ToolUnavailable", 1)

    HEALTHY.add(harness.tenant_id)
    await _until(harness.breaker, harness.tenant_id, "tests.crash", HALF_OPEN)
    probe = harness.call("tests.crash", {"order_id": "o-1"})
    assert (await harness.run(probe)).result is not None
    assert await harness.breaker.state(harness.tenant_id, "tests.crash") == CLOSED


async def test_domain_refusals_do_not_open_the_circuit(harness: ToolHarness) -> None:
    for _ in range(3):
        assert (await harness.run(harness.call("tests.deny", {"order_id": "o-2"}))).error_type == "ToolDenied"
    assert await harness.breaker.state(harness.tenant_id, "tests.deny") == CLOSED
