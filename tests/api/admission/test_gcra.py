"""The GCRA script's accounting against the real Redis: bursts, refill, the header values, the two scopes,
and refusals that consume nothing."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from policies.rate_limit import Rate, RateDecision, RateLimiter, Scope

ROOMY = Rate(per_minute=6000, burst=1000)


async def _hit(limiter: RateLimiter, tenant: str, subject: str, tenant_rate: Rate, key_rate: Rate) -> RateDecision:
    return await limiter.hit(
        tenant_id=tenant, subject=subject, route_class="read", tenant_rate=tenant_rate, key_rate=key_rate
    )


async def test_a_burst_is_admitted_then_refused_with_remaining_reset_and_retry_after(redis: Redis) -> None:
    limiter = RateLimiter(redis)
    tenant = str(uuid.uuid4())
    one_a_second = Rate(per_minute=60, burst=5)
    decisions = [await _hit(limiter, tenant, "k", one_a_second, ROOMY) for _ in range(6)]

    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert all(d.scope is Scope.TENANT and d.limit == 5 for d in decisions)
    # Reset: until the bucket is full again, one second per request taken (rounded up in the header).
    assert [d.headers()["RateLimit-Reset"] for d in decisions[:5]] == ["1", "2", "3", "4", "5"]
    refusal = decisions[5]
    assert 0 < refusal.retry_after_seconds <= 1
    assert refusal.headers()["Retry-After"] == "1"
    assert refusal.headers()["RateLimit-Remaining"] == "0"
    assert 4 < refusal.reset_seconds <= 5
    assert "Retry-After" not in decisions[0].headers()


async def test_the_bucket_refills_at_the_rate(redis: Redis) -> None:
    limiter = RateLimiter(redis)
    tenant = str(uuid.uuid4())
    two_a_second = Rate(per_minute=120, burst=3)
    while (await _hit(limiter, tenant, "k", two_a_second, ROOMY)).allowed:
        pass
    refused = await _hit(limiter, tenant, "k", two_a_second, ROOMY)
    assert not refused.allowed
    # Once the advertised wait has passed, exactly the refilled request gets in; the next does not.
    await asyncio.sleep(refused.retry_after_seconds + 0.01)
    assert (await _hit(limiter, tenant, "k", two_a_second, ROOMY)).allowed
    assert not (await _hit(limiter, tenant, "k", two_a_second, ROOMY)).allowed


async def test_the_key_bucket_and_the_tenant_bucket_each_refuse_in_their_scope(redis: Redis) -> None:
    limiter = RateLimiter(redis)
    tenant = str(uuid.uuid4())
    tenant_rate, key_rate = Rate(per_minute=60, burst=5), Rate(per_minute=60, burst=3)

    first_key = [await _hit(limiter, tenant, "key-1", tenant_rate, key_rate) for _ in range(4)]
    assert [d.allowed for d in first_key] == [True, True, True, False]
    # While the key has less room than its tenant, the key's bucket is the one the headers show.
    assert [(d.scope, d.limit) for d in first_key] == [(Scope.KEY, 3)] * 4

    second_key = [await _hit(limiter, tenant, "key-2", tenant_rate, key_rate) for _ in range(3)]
    assert [d.allowed for d in second_key] == [True, True, False]
    assert (second_key[-1].scope, second_key[-1].limit) == (Scope.TENANT, 5)


async def test_a_refused_request_consumes_nothing(redis: Redis) -> None:
    limiter = RateLimiter(redis)
    tenant = str(uuid.uuid4())
    tenant_rate, key_rate = Rate(per_minute=1, burst=6), Rate(per_minute=1, burst=2)

    assert [(await _hit(limiter, tenant, "greedy", tenant_rate, key_rate)).allowed for _ in range(2)] == [True, True]
    # Refused by the key bucket, fifty times: the tenant bucket must not have moved.
    for _ in range(50):
        assert not (await _hit(limiter, tenant, "greedy", tenant_rate, key_rate)).allowed
    others = [await _hit(limiter, tenant, f"other-{n}", tenant_rate, key_rate) for n in range(4)]
    assert all(d.allowed for d in others)
    assert others[-1].remaining == 0

    # Refused by the tenant bucket: the key bucket of a fresh key must not have moved either.
    for _ in range(20):
        refused = await _hit(limiter, tenant, "fresh", tenant_rate, key_rate)
        assert not refused.allowed and refused.scope is Scope.TENANT
    keys = limiter.bucket_keys(tenant, "fresh", "read")
    assert await redis.exists(keys[1]) == 0


async def test_buckets_are_per_route_class(redis: Redis) -> None:
    limiter = RateLimiter(redis)
    tenant = str(uuid.uuid4())
    tiny = Rate(per_minute=1, burst=1)
    assert (
        await limiter.hit(tenant_id=tenant, subject="k", route_class="read", tenant_rate=tiny, key_rate=tiny)
    ).allowed
    assert not (
        await limiter.hit(tenant_id=tenant, subject="k", route_class="read", tenant_rate=tiny, key_rate=tiny)
    ).allowed
    assert (
        await limiter.hit(tenant_id=tenant, subject="k", route_class="manage", tenant_rate=tiny, key_rate=tiny)
    ).allowed
