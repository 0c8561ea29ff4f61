"""Abuse limits of self-serve signup: per client address and per email domain, GCRA buckets in Redis.

The same script as the tenant rate limits (`policies.rate_limit`), with a bucket per address and one per
domain, each `per_hour` signups as a burst refilled evenly over the hour. The address is checked first: a
flood from one address does not spend a domain's allowance for others. Only valid requests reach here.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from policies.rate_limit import Rate, RateLimiter

PREFIX = "aiaas:signup"
_UNLIMITED = Rate(per_minute=1_000_000, burst=1_000_000)


@dataclass(frozen=True)
class SignupRefusal:
    scope: str  # "ip" or "domain"
    retry_after_seconds: float


def bucket_key(redis: Redis, scope: str, subject: str) -> str:
    """The Redis key of one address's or domain's bucket (tests fill it; operators may clear it)."""
    return RateLimiter(redis, prefix=PREFIX).bucket_keys(f"signup-{scope}", subject.lower(), "signup")[1]


async def admit_signup(
    redis: Redis, *, client: str, domain: str, per_ip_per_hour: int, per_domain_per_hour: int
) -> SignupRefusal | None:
    """None when both buckets admit the signup (and are drawn on), else which refused and for how long."""
    limiter = RateLimiter(redis, prefix=PREFIX)
    for scope, subject, per_hour in (("ip", client, per_ip_per_hour), ("domain", domain, per_domain_per_hour)):
        decision = await limiter.hit(
            tenant_id=f"signup-{scope}",
            subject=subject.lower(),
            route_class="signup",
            tenant_rate=_UNLIMITED,
            key_rate=Rate(per_minute=per_hour / 60, burst=per_hour),
        )
        if not decision.allowed:
            return SignupRefusal(scope=scope, retry_after_seconds=decision.retry_after_seconds)
    return None
