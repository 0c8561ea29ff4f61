"""Edge rate limits on a running gateway: the console's pages, the channel webhooks and the web widget, each
per client address, refused with 429 and `Retry-After` (a friendly page on the console, the API's JSON
error body on `/hooks` and `/widget`), before a session is resolved or a signature checked.

The test fills its own address's bucket in Redis (as a flood would leave it), checks the refusal, and
empties it again, so the other tests from this address are not held up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest
from redis.asyncio import Redis

from core.redis_clients import command_client
from policies.edge_limits import Edge, admit, bucket_key
from tests.console.conftest import ConsoleGateway
from tests.e2e.platform import Platform

CLIENT = "127.0.0.1"


def _run(platform: Platform, action: str, edge: Edge) -> None:
    async def go() -> None:
        redis = command_client(platform.settings)
        try:
            key = bucket_key(redis, edge, CLIENT)
            if action == "fill":
                # A theoretical arrival time far ahead: the bucket is empty for the next ten minutes.
                far = int((time.time() + 600) * 1_000_000)
                await redis.set(key, str(far), px=60_000)
            else:
                await redis.delete(key)
        finally:
            await redis.aclose()

    asyncio.run(go())


@contextmanager
def flooded(platform: Platform, edge: Edge) -> Iterator[None]:
    _run(platform, "fill", edge)
    try:
        yield
    finally:
        _run(platform, "empty", edge)


def test_the_console_shows_a_friendly_page_with_retry_after(
    console_gateway: ConsoleGateway, platform: Platform
) -> None:
    with flooded(platform, Edge.CONSOLE):
        page = httpx.get(f"{console_gateway.url}/console/sign-in")
        assert page.status_code == 429 and int(page.headers["Retry-After"]) > 0
        assert page.headers["content-type"].startswith("text/html") and "Slow down a little" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        # Other edges keep their own allowance.
        assert httpx.get(f"{console_gateway.url}/widget.js").status_code == 200
    assert httpx.get(f"{console_gateway.url}/console/sign-in").status_code == 200


def test_channel_hooks_answer_429_with_the_json_error_before_any_signature_check(
    console_gateway: ConsoleGateway, platform: Platform
) -> None:
    url = f"{console_gateway.url}/hooks/channels/{uuid.uuid4()}/{uuid.uuid4()}/sms"
    with flooded(platform, Edge.HOOKS):
        refused = httpx.post(url, data={"Body": "hi"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.json()["error"]["details"] == {"edge": "hooks"}
    # Unsigned, and with the allowance back: the signature check refuses it as before.
    assert httpx.post(url, data={"Body": "hi"}).status_code in (401, 404)


def test_the_widget_answers_429_readable_by_the_page(console_gateway: ConsoleGateway, platform: Platform) -> None:
    origin = "https://shop.example"
    with flooded(platform, Edge.WIDGET):
        refused = httpx.post(
            f"{console_gateway.url}/widget/v1/sessions", headers={"Origin": origin, "X-Widget-Key": "wk_x"}
        )
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["Access-Control-Allow-Origin"] == origin
        assert "Retry-After" in refused.headers["Access-Control-Expose-Headers"]
    after = httpx.post(f"{console_gateway.url}/widget/v1/sessions", headers={"Origin": origin, "X-Widget-Key": "wk_x"})
    assert after.status_code != 429


@pytest.fixture
async def redis(platform: Platform) -> AsyncIterator[Redis]:
    client = command_client(platform.settings)
    yield client
    await client.aclose()


async def test_a_burst_per_address_then_a_wait(redis: Redis) -> None:
    address = f"192.0.2.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
    assert [await admit(redis, Edge.HOOKS, address, 3) for _ in range(3)] == [None, None, None]
    wait = await admit(redis, Edge.HOOKS, address, 3)
    assert wait is not None and 0 < wait <= 20
    # Another address, and the same address at another edge, are not held up.
    assert await admit(redis, Edge.HOOKS, address + "x", 3) is None
    assert await admit(redis, Edge.WIDGET, address, 3) is None
