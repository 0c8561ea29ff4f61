"""Concurrent-turn leases and the monthly message counter, against the real Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from core.settings import Settings
from policies.concurrency import ConcurrencyLeases, LeaseOutcome, release_turn_lease
from policies.quotas import MessageQuota, month_of, resets_at


async def test_leases_count_against_the_limit_and_a_repeated_id_takes_no_second_slot(redis: Redis) -> None:
    leases = ConcurrencyLeases(redis)
    tenant = str(uuid.uuid4())
    assert await leases.try_acquire(tenant, "m-1", 2, 60) is LeaseOutcome.ACQUIRED
    assert await leases.try_acquire(tenant, "m-1", 2, 60) is LeaseOutcome.ALREADY_HELD
    assert await leases.in_use(tenant) == 1
    assert await leases.acquire(tenant, "m-2", 2, 60)
    assert not await leases.acquire(tenant, "m-3", 2, 60)
    # Another tenant's slots are its own.
    assert await leases.acquire(str(uuid.uuid4()), "m-3", 2, 60)

    assert await release_turn_lease(redis, tenant, "m-1")
    assert not await release_turn_lease(redis, tenant, "m-1")
    assert await leases.in_use(tenant) == 1
    assert await leases.acquire(tenant, "m-3", 2, 60)


async def test_renew_keeps_a_held_lease_and_refuses_a_gone_one(redis: Redis) -> None:
    leases = ConcurrencyLeases(redis)
    tenant = str(uuid.uuid4())
    await leases.acquire(tenant, "m-1", 1, 0.3)
    assert await leases.renew(tenant, "m-1", 60)
    await asyncio.sleep(0.4)
    # Renewed past its first expiry: still held, the slot still taken.
    assert await leases.in_use(tenant) == 1
    assert not await leases.acquire(tenant, "m-2", 1, 60)
    await leases.release(tenant, "m-1")
    assert not await leases.renew(tenant, "m-1", 60)


_HOLDER = textwrap.dedent(
    """
    import asyncio, os, sys
    from redis.asyncio import Redis
    from policies.concurrency import ConcurrencyLeases

    async def hold() -> None:
        leases = ConcurrencyLeases(Redis.from_url(os.environ["REDIS_URL"]))
        ok = await leases.acquire(os.environ["TENANT"], "held-by-the-dead", 1, float(os.environ["TTL"]))
        print("acquired" if ok else "refused", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(hold())
    """
)


async def test_the_lease_of_a_killed_holder_expires_on_its_own(redis: Redis, settings: Settings) -> None:
    tenant, ttl = str(uuid.uuid4()), 4.0
    env = {**os.environ, "REDIS_URL": settings.redis_url or "", "TENANT": tenant, "TTL": str(ttl)}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.to_thread(holder.stdout.readline)
        assert line.strip() == "acquired"
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    leases = ConcurrencyLeases(redis)
    expires_ms = await redis.zscore(leases.key(tenant), "held-by-the-dead")
    assert expires_ms is not None
    # Dead but not yet expired: the slot is still taken.
    assert not await leases.acquire(tenant, "next", 1, 60)
    redis_now = await redis.time()
    await asyncio.sleep(max(0.0, expires_ms / 1000 - (redis_now[0] + redis_now[1] / 1e6)) + 0.05)
    assert await leases.acquire(tenant, "next", 1, 60)
    assert await redis.zscore(leases.key(tenant), "held-by-the-dead") is None


async def test_a_waiting_acquire_gets_the_slot_when_it_is_released(redis: Redis) -> None:
    leases = ConcurrencyLeases(redis)
    tenant = str(uuid.uuid4())
    assert await leases.acquire(tenant, "running", 1, 60)
    waiter = asyncio.create_task(leases.acquire_waiting(tenant, "waiting", 1, 60, wait_seconds=30))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await leases.release(tenant, "running")
    assert await asyncio.wait_for(waiter, 10) is LeaseOutcome.ACQUIRED
    assert await leases.in_use(tenant) == 1


async def test_a_waiting_acquire_gives_up_after_its_wait(redis: Redis) -> None:
    leases = ConcurrencyLeases(redis)
    tenant = str(uuid.uuid4())
    await leases.acquire(tenant, "running", 1, 60)
    assert await leases.acquire_waiting(tenant, "waiting", 1, 60, wait_seconds=0.2) is LeaseOutcome.REFUSED
    assert await leases.acquire_waiting(tenant, "waiting", 1, 60, wait_seconds=0) is LeaseOutcome.REFUSED
    assert await leases.in_use(tenant) == 1


async def test_the_message_quota_counts_to_its_limit_and_refunds(redis: Redis) -> None:
    quota = MessageQuota(redis)
    tenant, month = str(uuid.uuid4()), "202501"
    taken = [await quota.take(tenant, month, 3) for _ in range(4)]
    assert [t.allowed for t in taken] == [True, True, True, False]
    assert [t.used for t in taken] == [1, 2, 3, 3]
    assert await quota.used(tenant, month) == 3
    await quota.refund(tenant, month)
    assert (await quota.take(tenant, month, 3)).allowed
    # Months are counted apart, and a refund never takes a counter below zero.
    assert await quota.used(tenant, "202502") == 0
    await quota.refund(tenant, "202502")
    assert await quota.used(tenant, "202502") == 0


async def test_concurrent_takes_never_pass_the_limit(redis: Redis) -> None:
    quota = MessageQuota(redis)
    tenant = str(uuid.uuid4())
    results = await asyncio.gather(*(quota.take(tenant, "202501", 10) for _ in range(40)))
    assert sum(r.allowed for r in results) == 10
    assert await quota.used(tenant, "202501") == 10


@pytest.mark.parametrize(
    ("month", "expected"),
    [("202501", datetime(2025, 2, 1, tzinfo=UTC)), ("202512", datetime(2026, 1, 1, tzinfo=UTC))],
)
def test_a_month_resets_on_the_first_of_the_next(month: str, expected: datetime) -> None:
    assert resets_at(month) == expected


def test_months_are_utc() -> None:
    assert month_of(datetime(2025, 12, 31, 23, 30, tzinfo=UTC)) == "202512"
    with pytest.raises(ValueError):
        resets_at("2025-1")
