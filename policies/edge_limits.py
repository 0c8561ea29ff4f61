"""Rate limits at the gateway's edge, per client address: the console's pages, the channel webhooks
(`/hooks`) and the web widget (`/widget`), which are reached before any API key could be counted.

The same GCRA script as the tenant rate limits (`policies.rate_limit`), one bucket per address and edge
(`per_minute` requests as a burst, refilled evenly over the minute). It is checked before a signature is
verified or a session resolved, so a flood of forged or unauthenticated requests costs one Redis call each
and never reaches Postgres. Per address rather than per tenant or channel: a forger could otherwise spend a
channel's allowance and block the provider's real deliveries, which come from the provider's own addresses.
"""

from __future__ import annotations

from enum import StrEnum

from redis.asyncio import Redis

from policies.rate_limit import Rate, RateLimiter

PREFIX = "aiaas:edge"
_UNLIMITED = Rate(per_minute=1_000_000, burst=1_000_000)


class Edge(StrEnum):
    CONSOLE = "console"
    HOOKS = "hooks"
    WIDGET = "widget"


def bucket_key(redis: Redis, edge: Edge, client: str) -> str:
    """The Redis key of one address's bucket at one edge (tests fill it; operators may clear it)."""
    return RateLimiter(redis, prefix=PREFIX).bucket_keys(f"edge-{edge}", client, str(edge))[1]


async def admit(redis: Redis, edge: Edge, client: str, per_minute: int) -> float | None:
    """None when the address's bucket admits the request (and is drawn on), else the seconds to wait."""
    decision = await RateLimiter(redis, prefix=PREFIX).hit(
        tenant_id=f"edge-{edge}",
        subject=client,
        route_class=str(edge),
        tenant_rate=_UNLIMITED,
        key_rate=Rate(per_minute=per_minute, burst=per_minute),
    )
    return None if decision.allowed else decision.retry_after_seconds
