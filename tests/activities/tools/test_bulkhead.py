"""The bulkhead in Redis: a hard limit on concurrent calls, leases that outlive no killed worker, and the
runtime retrying callers that found it full until every one of them has run."""

# Fixtures come in by import (parameters then shadow the imported names).
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import uuid

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from agents.steps import turn_steps
from policies.bulkhead import Bulkhead
from tests.activities.tools.runtime_fixtures import (  # noqa: F401
    GATES,
    LEDGER,
    MAX_INSIDE,
    ToolHarness,
    harness,
    redis,
)


def _refused() -> float:
    return REGISTRY.get_sample_value("aiaas_bulkhead_refused_total") or 0.0


def _tenant() -> str:
    return str(uuid.uuid4())


async def test_the_limit_holds_and_a_released_slot_is_reused(redis: Redis) -> None:
    bulkhead, tenant, tool = Bulkhead(redis), _tenant(), "orders.lookup"
    assert await bulkhead.acquire(tenant, tool, "a", 2, 30)
    assert await bulkhead.acquire(tenant, tool, "b", 2, 30)
    assert not await bulkhead.acquire(tenant, tool, "c", 2, 30)
    # Acquiring again under the same lease is a renewal, not a second slot.
    assert await bulkhead.acquire(tenant, tool, "a", 2, 30)
    assert await bulkhead.in_use(tenant, tool) == 2
    # Another tool, and another tenant, have bulkheads of their own.
    assert await bulkhead.acquire(tenant, "orders.cancel", "c", 2, 30)
    assert await bulkhead.acquire(_tenant(), tool, "c", 2, 30)
    await bulkhead.release(tenant, tool, "a")
    assert await bulkhead.acquire(tenant, tool, "c", 2, 30)
    assert not await bulkhead.acquire(tenant, tool, "d", 2, 30)


async def test_concurrent_acquires_never_exceed_the_limit(redis: Redis) -> None:
    bulkhead, tenant, tool = Bulkhead(redis), _tenant(), "payments.charge"
    granted = await asyncio.gather(*(bulkhead.acquire(tenant, tool, f"lease-{n}", 3, 30) for n in range(30)))
    assert sum(granted) == 3


async def test_the_lease_of_a_killed_holder_expires_and_frees_its_slot(redis: Redis) -> None:
    bulkhead, tenant, tool = Bulkhead(redis), _tenant(), "shipping.create"
    assert await bulkhead.acquire(tenant, tool, "killed-worker", 1, 0.3)  # never released
    assert not await bulkhead.acquire(tenant, tool, "next", 1, 30)
    for _ in range(100):
        if await bulkhead.acquire(tenant, tool, "next", 1, 30):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the expired lease still holds the slot")
    assert await bulkhead.in_use(tenant, tool) == 1


async def test_renewal_keeps_a_lease_and_reports_a_lost_one(redis: Redis) -> None:
    bulkhead, tenant, tool = Bulkhead(redis), _tenant(), "crm.upsert"
    assert await bulkhead.acquire(tenant, tool, "long", 1, 0.3)
    assert await bulkhead.renew(tenant, tool, "long", 30)
    await asyncio.sleep(0.4)
    assert not await bulkhead.acquire(tenant, tool, "other", 1, 30)  # the renewed lease still holds it
    await bulkhead.release(tenant, tool, "long")
    assert not await bulkhead.renew(tenant, tool, "long", 30)


async def test_five_callers_through_a_bulkhead_of_two_all_finish(harness: ToolHarness) -> None:
    gate = uuid.uuid4().hex
    refused_before = _refused()
    calls = [harness.call("tests.slow", {"gate": gate}) for _ in range(5)]
    runs = [asyncio.create_task(harness.run(call)) for call in calls]
    bulkhead = Bulkhead(harness.redis)
    # Hold the two that got in until the other three have been turned away at least once.
    for _ in range(600):
        if _refused() - refused_before >= 3 and await bulkhead.in_use(harness.tenant_id, "tests.slow") == 2:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the bulkhead never filled")
    GATES[gate].set()
    outcomes = await asyncio.gather(*runs)
    assert all(o.result is not None and o.result.status == "ok" for o in outcomes), outcomes
    assert MAX_INSIDE[gate] == 2
    attempts = [LEDGER[call.call_id].attempts for call in calls]
    # Each ran exactly once; those turned away ran on a later attempt.
    assert all(len(a) == 1 for a in attempts) and sum(a[0] > 1 for a in attempts) >= 3
    async with harness.db.tenant_session(harness.tenant_id) as session:
        for call in calls:
            [row] = await turn_steps(session, call.message_id)
            assert row.status == "ok"
    assert await bulkhead.in_use(harness.tenant_id, "tests.slow") == 0
