"""The processes' Redis clients under more concurrent commands than they have connections: every command is
served, none opens a connection beyond the bound, and one that waits too long fails like an unreachable Redis."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.exceptions import RedisError

from core.redis_clients import blocking_client, command_client
from core.settings import Settings


async def test_a_burst_past_redis_pys_default_pool_is_served(settings: Settings) -> None:
    """redis-py's own pool refuses the 101st concurrent command; the processes' clients serve 150."""
    client = command_client(settings)
    key = f"pool-burst-{uuid.uuid4().hex}"
    try:
        # Each BLPOP holds its connection until its 0.3 s block ends: 150 are in flight at once.
        results = await asyncio.gather(*(client.blpop([key], timeout=0.3) for _ in range(150)))
        assert results == [None] * 150
    finally:
        await client.aclose()


async def test_commands_wait_for_a_connection_within_the_bound(settings: Settings) -> None:
    client = blocking_client(settings.model_copy(update={"redis_max_connections": 2}))
    key = f"pool-bound-{uuid.uuid4().hex}"
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(client.blpop([key], timeout=0.3) for _ in range(6)))
        elapsed = time.monotonic() - started
        assert results == [None] * 6
        # Two connections serve six 0.3 s blocks in three waves: never more than two at once.
        assert elapsed >= 0.85
    finally:
        await client.aclose()


async def test_a_command_that_cannot_get_a_connection_in_time_fails_as_redis_unreachable(settings: Settings) -> None:
    # A test about the wait's timeout: the wait is shortened to keep it quick.
    tight = settings.model_copy(update={"redis_max_connections": 1, "redis_socket_timeout_seconds": 0.3})
    client = blocking_client(tight)
    key = f"pool-wait-{uuid.uuid4().hex}"
    try:
        holder = asyncio.create_task(client.blpop([key], timeout=2))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(RedisError):
            await client.get(key)
        assert time.monotonic() - started < 1.5
        assert await holder is None
        # The connection went back: the next command is served.
        assert await client.get(key) is None
    finally:
        await client.aclose()
