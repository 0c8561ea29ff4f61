"""Blocking Redis calls against socket timeouts: a block longer than the client's socket timeout must never
look like a dead Redis.

redis-py gives a client a 5 s socket timeout unless told otherwise and applies it to the reply of a
blocking command too. These tests shorten that timeout to show the hazard and the guards quickly.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.events import EventBus, stream_key
from core.redis_clients import blocking_client, blocking_socket_timeout, command_client, socket_timeout_of
from core.settings import Settings
from tenancy.auth_cache import InvalidationListener, publish_invalidation


async def test_a_block_longer_than_the_socket_timeout_is_cut_to_fit(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url or "", socket_timeout=1.0)
    try:
        conversation = str(uuid.uuid4())
        key = stream_key("tenant-timeouts", conversation)
        # The hazard: the reply of XREAD BLOCK counts against the socket timeout.
        with pytest.raises(RedisTimeoutError):
            await redis.xread({key: "0-0"}, block=3000)
        bus = EventBus(redis)
        assert bus.max_block_ms is not None and bus.max_block_ms < 1000
        started = time.monotonic()
        assert await bus.read("tenant-timeouts", conversation, "0-0", block_ms=3000) == []
        assert await bus.read("tenant-timeouts", conversation, "0-0", block_ms=0) == []
        assert time.monotonic() - started < 2.5
    finally:
        await redis.aclose()


async def test_the_processes_clients_leave_room_for_the_longest_block(settings: Settings) -> None:
    commands, reader = command_client(settings), blocking_client(settings)
    try:
        assert socket_timeout_of(commands) == settings.redis_socket_timeout_seconds
        assert socket_timeout_of(reader) == blocking_socket_timeout(settings)
        bus = EventBus(commands, reader=reader)
        # A stream blocks a whole keep-alive interval in one read, and a dead Redis still shows.
        assert bus.max_block_ms is not None
        assert settings.sse_keepalive_seconds * 1000 <= bus.max_block_ms < blocking_socket_timeout(settings) * 1000
        assert socket_timeout_of(Redis.from_url(settings.redis_url or "")) == 5.0
    finally:
        await commands.aclose()
        await reader.aclose()


async def test_the_auth_cache_subscription_idles_past_the_socket_timeout(settings: Settings) -> None:
    """Its wait for a message passes its own timeout to redis-py, so the client's socket timeout does not
    apply; idle longer than that timeout, it stays subscribed and still hears an invalidation."""
    commands = command_client(settings)
    calls: list[dict[str, str | None]] = []
    try:
        async with InvalidationListener(commands, lambda **named: calls.append(named)) as listener:
            assert listener.subscribed.is_set()
            await asyncio.sleep(settings.redis_socket_timeout_seconds + 2)
            key_id = str(uuid.uuid4())
            await publish_invalidation(commands, key_id=key_id)
            for _ in range(100):
                if len(calls) > 1:
                    break
                await asyncio.sleep(0.05)
        # One full reset when it subscribed, none since: the subscription never dropped.
        assert calls == [{}, {"tenant_id": None, "key_id": key_id}]
    finally:
        await commands.aclose()
