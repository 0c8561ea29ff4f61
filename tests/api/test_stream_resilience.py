"""An event stream through Redis failures, on a Redis of its own that the tests stop and start again.

A restart in the middle of a stream costs nothing: keep-alives go on, and the stream resumes from the last
event it delivered, with nothing lost or repeated. A Redis that stays away ends the stream with an error
that says so (an SSE `stream.error` event, a WebSocket close 4503), never a silent close. These are tests
about the retry window and the timeouts themselves, so they shorten them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from api.streaming import BoundedEventQueue, DropPolicy, follow, sse_stream
from api.ws_pump import pump
from contracts.events import EventType
from core.events import Event, EventBus
from core.redis_clients import blocking_client, command_client
from core.settings import Settings
from core.stack import free_port
from core.stack.redis import EmbeddedRedis

TENANT = "tenant-resilience"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    redis = EmbeddedRedis(data_dir=tmp_path, host="127.0.0.1", port=free_port())
    redis.preflight()
    redis.start(threading.Event())
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
async def bus(own_redis: EmbeddedRedis, settings: Settings) -> AsyncIterator[tuple[EventBus, Settings]]:
    quick = settings.model_copy(
        update={
            "redis_url": own_redis.url,
            "sse_keepalive_seconds": 1.0,
            "redis_socket_timeout_seconds": 1.0,
            "redis_connect_timeout_seconds": 1.0,
            "stream_retry_seconds": 3.0,
        }
    )
    commands, reader = command_client(quick), blocking_client(quick)
    yield EventBus(commands, reader=reader), quick
    await commands.aclose()
    await reader.aclose()


async def _never() -> bool:
    return False


async def test_a_stream_rides_out_a_redis_restart(own_redis: EmbeddedRedis, bus: tuple[EventBus, Settings]) -> None:
    events, _ = bus
    conversation = str(uuid.uuid4())
    first = await events.publish(TENANT, conversation, EventType.TOKEN, {"index": 0})
    stream = follow(events, TENANT, conversation, "0-0", keepalive_seconds=1.0, retry_seconds=60, disconnected=_never)
    delivered = await anext(stream)
    assert isinstance(delivered, Event) and delivered.id == first

    await asyncio.to_thread(own_redis.stop)
    # Redis is gone; the client still hears from the stream.
    assert await asyncio.wait_for(anext(stream), 5) is None
    await asyncio.to_thread(own_redis.start, threading.Event())
    second = await _publish_after_restart(events, conversation, {"index": 1})

    after: list[Event] = []
    while not after:
        item = await asyncio.wait_for(anext(stream), 10)
        if item is not None:
            after.append(item)
    assert [e.id for e in after] == [second] and after[0].data == {"index": 1}
    await stream.aclose()


async def test_an_sse_stream_without_redis_ends_with_an_error_event(
    own_redis: EmbeddedRedis, bus: tuple[EventBus, Settings]
) -> None:
    events, quick = bus
    conversation = str(uuid.uuid4())
    first = await events.publish(TENANT, conversation, EventType.TOKEN, {"index": 0})
    stream = sse_stream(
        events,
        TENANT,
        conversation,
        "0-0",
        keepalive_seconds=quick.sse_keepalive_seconds,
        retry_seconds=quick.stream_retry_seconds,
        disconnected=_never,
    )
    assert await anext(stream) == "retry: 2000\n\n"
    assert (await anext(stream)).startswith(f"id: {first}\n")
    await asyncio.to_thread(own_redis.stop)

    frames = [frame async for frame in _within(stream, 20)]
    assert frames, "the stream ended without a word"
    assert all(frame == ": keep-alive\n\n" for frame in frames[:-1]), frames
    lines = frames[-1].splitlines()
    assert lines[0] == "event: stream.error" and not any(line.startswith("id:") for line in lines)
    error = json.loads(lines[1].removeprefix("data: "))["data"]["error"]
    assert error["code"] == "stream_unavailable" and error["details"] == {"last_event_id": first}


async def test_a_websocket_without_redis_closes_with_4503(
    own_redis: EmbeddedRedis, bus: tuple[EventBus, Settings]
) -> None:
    events, quick = bus
    conversation = str(uuid.uuid4())
    await events.publish(TENANT, conversation, EventType.TOKEN, {"index": 0})
    socket = RecordingSocket()
    running = asyncio.create_task(
        pump(socket, events, TENANT, conversation, "0-0", BoundedEventQueue(8, DropPolicy.DROP_OLDEST), quick)
    )
    while not socket.sent:
        await asyncio.sleep(0.05)
    await asyncio.to_thread(own_redis.stop)
    await asyncio.wait_for(running, 20)
    assert socket.closed == (4503, "stream_unavailable")
    assert json.loads(socket.sent[0])["data"] == {"index": 0}


async def _publish_after_restart(events: EventBus, conversation: str, data: dict[str, int]) -> str:
    # The first command on a pooled connection from before the restart fails; a publisher (an activity)
    # would be retried, and so is this.
    for _ in range(3):
        with contextlib.suppress(RedisConnectionError):
            return await events.publish(TENANT, conversation, EventType.TOKEN, data)
    raise AssertionError("Redis did not come back")


class RecordingSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def receive_text(self) -> str:
        await asyncio.Event().wait()
        return ""

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def _within(stream: AsyncIterator[str], seconds: float) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            yield await asyncio.wait_for(anext(stream), max(0.0, deadline - loop.time()))
        except StopAsyncIteration:
            return
