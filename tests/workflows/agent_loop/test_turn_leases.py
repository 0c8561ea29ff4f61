"""The concurrent-turn slot the gateway took for a message: kept while its turn works, renewed at each model
call, and given back when the turn starts waiting for a person (who may take a day)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from commerce.connectors.faults import inject_fault
from core.settings import Settings
from db.database import run_sql
from policies.concurrency import ConcurrencyLeases, lease_key
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, call, plan, rows, send, start, turns_done, until

ADMITTED_TTL_SECONDS = 30.0


@pytest.fixture
async def redis(migrated: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(migrated.redis_url or "")
    try:
        yield client
    finally:
        await client.aclose()


async def _admit(redis: Redis, tenant_id: str) -> str:
    """What the gateway does for a new message: a slot, expiring on its own if nobody renews it."""
    message_id = str(uuid.uuid4())
    assert await ConcurrencyLeases(redis).acquire(tenant_id, message_id, limit=100, ttl_seconds=ADMITTED_TTL_SECONDS)
    return message_id


async def _seconds_left(redis: Redis, tenant_id: str, message_id: str) -> float | None:
    score = await redis.zscore(lease_key(tenant_id), message_id)
    if score is None:
        return None
    seconds, micros = await redis.time()
    return score / 1000 - (seconds + micros / 1_000_000)


async def _until_fault_met(loop: Loop, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with loop.db.tenant_session(loop.tenant_id) as session:
            if not (await run_sql(session, "SELECT count(*) FROM sandbox_faults")).scalar_one():
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the slow step never started")


async def test_a_working_turn_renews_its_slot_and_frees_it_at_the_end(loop: Loop, redis: Redis) -> None:
    handle = await start(loop, "orders", loop.demo.ada_id)
    message_id = await _admit(redis, loop.tenant_id)
    # A slow payment keeps the turn busy inside its saga, after its first model call.
    await inject_fault(loop.db, loop.tenant_id, "payments.charge", mode="latency", latency_ms=3000)
    await send(handle, plan(call("orders.place", items=[{"sku": "SKU-MUG", "quantity": 1}])), message_id)
    await _until_fault_met(loop)

    left = await _seconds_left(redis, loop.tenant_id, message_id)
    assert left is not None and left > 5 * ADMITTED_TTL_SECONDS, left

    await turns_done(handle, 1)
    assert await answer(loop, message_id) == "done: orders.place=ok"
    assert await _seconds_left(redis, loop.tenant_id, message_id) is None


async def test_a_turn_waiting_for_approval_gives_its_slot_back(loop: Loop, redis: Redis) -> None:
    handle = await start(loop, "orders", loop.demo.ada_id)
    placed = await send(handle, plan(call("orders.place", items=[{"sku": "SKU-HOODIE", "quantity": 2}])))
    await turns_done(handle, 1)
    order = await rows(
        loop.db,
        loop.tenant_id,
        "SELECT DISTINCT output->>'order_id' AS id FROM tool_calls WHERE message_id = :m AND tool = 'orders.place'",
        m=placed,
    )
    message_id = await _admit(redis, loop.tenant_id)
    refund = call("orders.refund", order_id=order[0]["id"], amount_cents=10_500, reason="late")
    await send(handle, plan(refund), message_id)
    await until(handle, lambda s: bool(s.pending_approvals))

    assert await _seconds_left(redis, loop.tenant_id, message_id) is None
