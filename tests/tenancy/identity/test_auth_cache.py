"""The principal cache and its invalidation over real Redis pub/sub."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.stack import StackEndpoints
from tenancy.auth_cache import CHANNEL, InvalidationListener, PrincipalCache, publish_invalidation
from tenancy.principal import Principal, make_principal


def _key(tenant: str, key: str) -> Principal:
    return make_principal(tenant_id=tenant, subject=f"apikey:{key}", roles=("owner",), key_id=key)


def _user(tenant: str, subject: str) -> Principal:
    return make_principal(tenant_id=tenant, subject=subject, roles=("viewer",))


def _filled(cache: PrincipalCache | None = None) -> PrincipalCache:
    cache = PrincipalCache(60) if cache is None else cache
    for digest, principal in {
        "a1": _key("A", "k1"),
        "a2": _key("A", "k2"),
        "a3": _user("A", "alice"),
        "b1": _key("B", "k3"),
        "p1": make_principal(tenant_id=None, subject="ops", roles=(), platform_role="platform_admin"),
    }.items():
        cache.put(digest, principal, valid_for=float("inf"), generation=cache.generation)
    return cache


def test_forget_by_key_and_by_tenant() -> None:
    cache = _filled()
    cache.forget(key_id="k1")
    assert cache.get("a1") is None and cache.get("a2") is not None
    # A tenant's every principal goes, keys and token users alike; nobody else's.
    cache.forget(tenant_id="A")
    assert [cache.get(d) for d in ("a2", "a3")] == [None, None]
    assert cache.get("b1") is not None and cache.get("p1") is not None
    cache.forget()
    assert len(cache) == 0


def test_entries_expire_and_a_disabled_cache_stays_empty() -> None:
    cache = PrincipalCache(0.05)
    cache.put("x", _key("A", "k"), valid_for=float("inf"), generation=cache.generation)
    assert cache.get("x") is not None
    time.sleep(0.06)
    assert cache.get("x") is None
    # A credential that expires sooner than the cache lifetime is cached only that long.
    long_lived = PrincipalCache(60)
    long_lived.put("y", _key("A", "k"), valid_for=0.05, generation=long_lived.generation)
    time.sleep(0.06)
    assert long_lived.get("y") is None
    disabled = PrincipalCache(0)
    disabled.put("z", _key("A", "k"), valid_for=float("inf"), generation=disabled.generation)
    assert len(disabled) == 0


def test_a_lookup_racing_an_invalidation_is_not_cached() -> None:
    cache = PrincipalCache(60)
    generation = cache.generation  # a lookup starts, reads the key as valid...
    cache.forget(key_id="k1")  # ...the key is revoked meanwhile...
    cache.put("a1", _key("A", "k1"), valid_for=float("inf"), generation=generation)  # ...and it finishes.
    assert cache.get("a1") is None


@pytest.fixture
async def redis(stack: StackEndpoints) -> AsyncIterator[Redis]:
    client = Redis.from_url(stack.redis_url)
    yield client
    await client.aclose()


async def _until(condition: object, timeout: float = 1.0) -> float:
    started = time.perf_counter()
    while not condition():  # type: ignore[operator]
        assert time.perf_counter() - started < timeout, "not within the deadline"
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


async def test_published_invalidations_reach_every_listener(redis: Redis, stack: StackEndpoints) -> None:
    caches = [_filled(), _filled()]
    other = Redis.from_url(stack.redis_url)
    try:
        async with (
            InvalidationListener(redis, caches[0].forget) as first,
            InvalidationListener(other, caches[1].forget) as second,
        ):
            assert first.subscribed.is_set() and second.subscribed.is_set()
            for cache in caches:  # subscribing starts from an empty cache; refill
                _filled(cache)
            await publish_invalidation(redis, key_id="k3")
            await _until(lambda: all(c.get("b1") is None for c in caches))
            assert all(c.get("a1") is not None for c in caches)
            await publish_invalidation(redis, tenant_id="A")
            await _until(lambda: all(c.get("a1") is None and c.get("a3") is None for c in caches))
            assert all(c.get("p1") is not None for c in caches)
            # Something unreadable on the channel may have named anything: drop everything.
            await redis.publish(CHANNEL, b"\xff not json")
            await _until(lambda: all(len(c) == 0 for c in caches))
    finally:
        await other.aclose()


async def test_publish_needs_a_target(redis: Redis) -> None:
    with pytest.raises(ValueError):
        await publish_invalidation(redis)
