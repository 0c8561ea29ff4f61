"""Signup abuse limits on real Redis: the address bucket, then the domain bucket, each refilling over the hour."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from policies.signup_limits import admit_signup


async def test_per_address_then_per_domain(redis: Redis) -> None:
    ip, domain = f"203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}", f"d{uuid.uuid4().hex[:8]}.example"
    limits = {"per_ip_per_hour": 3, "per_domain_per_hour": 5}
    for _ in range(3):
        assert await admit_signup(redis, client=ip, domain=domain, **limits) is None
    refused = await admit_signup(redis, client=ip, domain=domain, **limits)
    assert refused is not None and refused.scope == "ip"
    assert 0 < refused.retry_after_seconds <= 3600 / 3 + 1, "one signup comes back after a third of the hour"
    # Other addresses share the domain's five.
    assert await admit_signup(redis, client=f"{ip}-b", domain=domain, **limits) is None
    assert await admit_signup(redis, client=f"{ip}-c", domain=domain, **limits) is None
    refused = await admit_signup(redis, client=f"{ip}-d", domain=domain.upper(), **limits)
    assert refused is not None and refused.scope == "domain", "domains compare case-insensitively"
    # An address refused by its own bucket spends nothing of the domain's.
    other = f"o{uuid.uuid4().hex[:8]}.example"
    assert (await admit_signup(redis, client=ip, domain=other, **limits)).scope == "ip"  # type: ignore[union-attr]
    for n in range(5):
        assert await admit_signup(redis, client=f"{ip}-{n}x", domain=other, **limits) is None
