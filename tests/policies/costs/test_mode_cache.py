"""The budget mode cache under racing writers: a stale, milder mode never replaces a stricter one."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from policies.budgets import BudgetMode
from policies.mode_cache import ModeCache


async def test_a_milder_mode_does_not_overwrite_a_stricter_one(redis: Redis) -> None:
    cache, tenant = ModeCache(redis, 60), str(uuid.uuid4())
    await cache.put(tenant, BudgetMode.SAFE)
    await cache.put(tenant, BudgetMode.BLOCKED)
    # A settlement that read the spend before the last one finishes after it.
    await cache.put(tenant, BudgetMode.SAFE)
    await cache.put(tenant, BudgetMode.NORMAL)
    assert await cache.get(tenant) == BudgetMode.BLOCKED


async def test_forgetting_lets_a_milder_mode_in(redis: Redis) -> None:
    """Money given back or a budget raised forgets the entry, and the recomputed, milder mode is kept."""
    cache, tenant = ModeCache(redis, 60), str(uuid.uuid4())
    await cache.put(tenant, BudgetMode.BLOCKED)
    await cache.forget(tenant)
    await cache.put(tenant, BudgetMode.NORMAL)
    assert await cache.get(tenant) == BudgetMode.NORMAL


async def test_racing_writers_leave_the_strictest(redis: Redis) -> None:
    cache, tenant = ModeCache(redis, 60), str(uuid.uuid4())
    modes = [BudgetMode.NORMAL, BudgetMode.SAFE, BudgetMode.BLOCKED] * 20
    await asyncio.gather(*(cache.put(tenant, mode) for mode in reversed(modes)))
    assert await cache.get(tenant) == BudgetMode.BLOCKED


async def test_the_entry_still_expires(redis: Redis) -> None:
    cache, tenant = ModeCache(redis, 0.2), str(uuid.uuid4())
    await cache.put(tenant, BudgetMode.BLOCKED)
    await asyncio.sleep(0.4)
    assert await cache.get(tenant) is None
    await cache.put(tenant, BudgetMode.NORMAL)
    assert await cache.get(tenant) == BudgetMode.NORMAL
