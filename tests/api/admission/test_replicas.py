"""Two gateway processes share the buckets in Redis: a burst spread over both is limited to what one admits."""

from __future__ import annotations

import itertools
import time

import httpx

from tenancy.plans import RouteClass, limits_for
from tests.e2e.platform import Platform

from .conftest import MakeTenant, Tenant


def _burst(urls: list[str], tenant: Tenant, attempts: int) -> tuple[int, float, set[str]]:
    """Conversation creations (the `messages` class) round-robin over `urls`: how many got in, in how long,
    and which gateways admitted any."""
    admitted, admitting = 0, set()
    started = time.monotonic()
    with httpx.Client(timeout=30.0, headers=tenant.headers) as client:
        for _, url in zip(range(attempts), itertools.cycle(urls), strict=False):
            status = client.post(f"{url}/v1/conversations", json={}).status_code
            assert status in (201, 429)
            if status == 201:
                admitted += 1
                admitting.add(url)
    return admitted, time.monotonic() - started, admitting


def test_a_burst_over_two_gateways_is_limited_like_one_on_one(
    platform: Platform, second_gateway: str, make_tenant: MakeTenant
) -> None:
    rate = limits_for("free").rate_for(RouteClass.MESSAGES)
    attempts = rate.burst * 4

    def allowance(elapsed: float) -> int:
        return rate.burst + int(elapsed * rate.per_minute / 60) + 1

    alone, alone_took, _ = _burst([platform.base_url], make_tenant("free"), attempts)
    spread, spread_took, admitting = _burst([platform.base_url, second_gateway], make_tenant("free"), attempts)

    assert rate.burst <= alone <= allowance(alone_took)
    # Each gateway alone would have admitted a burst of its own: together they admit one.
    assert rate.burst <= spread <= allowance(spread_took)
    assert admitting == {platform.base_url, second_gateway}
