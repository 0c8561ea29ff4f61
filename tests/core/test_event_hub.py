"""The gateway's event hub: one subscription per process wakes every open stream of a conversation when its
events arrive, so open streams cost no Redis connection each, and a Redis restart is ridden out as before."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from api.streaming import follow
from contracts.events import EventType
from core.event_hub import EventHub
from core.events import _WOKEN_READS, Event, EventBus
from core.redis_clients import blocking_client, command_client
from core.settings import Settings
from core.stack.redis import EmbeddedRedis
from tests.api.test_stream_resilience import own_redis  # noqa: F401 - a fixture

TENANT = "tenant-hub"
# Far longer than any delivery below may take: a stream that waited for its keep-alive to look would fail.
KEEPALIVE = 30.0


async def _never() -> bool:
    return False


async def _hub_bus(settings: Settings) -> AsyncIterator[tuple[EventBus, EventHub, EventBus]]:
    commands, reader = command_client(settings), blocking_client(settings)
    hub = EventHub(reader)
    hub.start()
    await asyncio.wait_for(hub.subscribed.wait(), 10)
    try:
        # A publisher as a worker has it (no hub), and the gateway's reading side.
        yield EventBus(commands), hub, EventBus(commands, reader=reader, hub=hub)
    finally:
        await hub.close()
        await commands.aclose()
        await reader.aclose()


@pytest.fixture
async def hub_bus(settings: Settings) -> AsyncIterator[tuple[EventBus, EventHub, EventBus]]:
    async for parts in _hub_bus(settings):
        yield parts


async def _connected_clients(bus: EventBus) -> int:
    return len(await bus._redis.client_list())


async def test_many_streams_share_one_subscription_and_wake_on_their_events(
    hub_bus: tuple[EventBus, EventHub, EventBus],
) -> None:
    publisher, hub, reading = hub_bus
    conversations = [str(uuid.uuid4()) for _ in range(60)]
    before = await _connected_clients(publisher)
    # Three streams per conversation, all waiting on an empty stream.
    streams = [
        follow(reading, TENANT, c, "0-0", keepalive_seconds=KEEPALIVE, retry_seconds=60, disconnected=_never)
        for c in conversations
        for _ in range(3)
    ]
    nexts = [asyncio.ensure_future(anext(stream)) for stream in streams]
    while hub.watching < len(streams):
        await asyncio.sleep(0.01)
    # Waiting streams hold no connection of their own: the pooled ones their first reads took turns on
    # (at most `_WOKEN_READS` at once) and the hub's subscription, not one each.
    assert await _connected_clients(publisher) - before <= _WOKEN_READS + 2 < len(streams)

    started = time.monotonic()
    ids = {c: await publisher.publish(TENANT, c, EventType.TOKEN, {"c": c}) for c in conversations}
    delivered = await asyncio.wait_for(asyncio.gather(*nexts), 10)
    assert time.monotonic() - started < KEEPALIVE / 3
    for index, event in enumerate(delivered):
        conversation = conversations[index // 3]
        assert isinstance(event, Event) and event.id == ids[conversation] and event.data == {"c": conversation}
    for stream in streams:
        await stream.aclose()
    assert hub.watching == 0


async def test_a_stream_resumes_after_its_cursor_with_nothing_repeated(
    hub_bus: tuple[EventBus, EventHub, EventBus],
) -> None:
    publisher, _hub, reading = hub_bus
    conversation = str(uuid.uuid4())
    ids = [await publisher.publish(TENANT, conversation, EventType.TOKEN, {"i": i}) for i in range(3)]
    stream = follow(
        reading, TENANT, conversation, ids[0], keepalive_seconds=KEEPALIVE, retry_seconds=60, disconnected=_never
    )
    assert [(await anext(stream)).id for _ in range(2)] == ids[1:]  # type: ignore[union-attr]
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    live = await publisher.publish(TENANT, conversation, EventType.TOKEN, {"i": 3})
    event = await asyncio.wait_for(waiting, 5)
    assert isinstance(event, Event) and event.id == live
    await stream.aclose()


async def _publish_after_restart(bus: EventBus, conversation: str) -> str:
    # The first command on a pooled connection from before the restart may fail; an activity would retry.
    for _ in range(3):
        with contextlib.suppress(RedisConnectionError):
            return await bus.publish(TENANT, conversation, EventType.TOKEN, {"index": 1})
    raise AssertionError("Redis did not come back")


async def test_the_hub_resubscribes_after_a_redis_restart(own_redis: EmbeddedRedis, settings: Settings) -> None:  # noqa: F811
    quick = settings.model_copy(update={"redis_url": own_redis.url, "redis_socket_timeout_seconds": 1.0})
    async for publisher, hub, reading in _hub_bus(quick):
        conversation = str(uuid.uuid4())
        stream = follow(
            reading, TENANT, conversation, "0-0", keepalive_seconds=KEEPALIVE, retry_seconds=60, disconnected=_never
        )
        waiting = asyncio.ensure_future(anext(stream))
        while hub.watching == 0:
            await asyncio.sleep(0.01)
        subscriptions = hub.subscriptions
        await asyncio.to_thread(own_redis.stop)
        await asyncio.to_thread(own_redis.start, threading.Event())
        deadline = time.monotonic() + 15
        while hub.subscriptions == subscriptions and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert hub.subscriptions > subscriptions
        published = await _publish_after_restart(publisher, conversation)
        event = await asyncio.wait_for(waiting, 15)
        assert isinstance(event, Event) and event.id == published
        await stream.aclose()
