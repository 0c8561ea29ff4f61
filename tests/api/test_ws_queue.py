"""WebSocket back-pressure: each policy, on a real Redis stream and a client that reads slowly."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from redis.asyncio import Redis

from api.streaming import BoundedEventQueue, DropPolicy, SlowConsumer
from api.ws_pump import pump
from contracts.events import EventType
from core.events import Event, EventBus
from core.settings import Settings


def _event(i: int) -> Event:
    return Event(id=f"{i}-0", type="token", data={"index": i})


def test_drop_oldest_keeps_the_newest() -> None:
    queue = BoundedEventQueue(3, DropPolicy.DROP_OLDEST)
    for i in range(5):
        queue.put(_event(i))
    assert queue.dropped == 2
    assert [queue.pop().data["index"] for _ in range(3)] == [2, 3, 4]  # type: ignore[union-attr]
    assert queue.pop() is None


def test_drop_newest_keeps_the_oldest() -> None:
    queue = BoundedEventQueue(3, DropPolicy.DROP_NEWEST)
    for i in range(5):
        queue.put(_event(i))
    assert queue.dropped == 2
    assert [queue.pop().data["index"] for _ in range(3)] == [0, 1, 2]  # type: ignore[union-attr]


def test_disconnect_policy_raises_when_full() -> None:
    queue = BoundedEventQueue(2, DropPolicy.DISCONNECT)
    queue.put(_event(0))
    queue.put(_event(1))
    with pytest.raises(SlowConsumer):
        queue.put(_event(2))
    with pytest.raises(ValueError):
        BoundedEventQueue(0, DropPolicy.DROP_OLDEST)


class SlowSocket:
    """A client that takes its first message and then stalls until released."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()
        self.closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        if self.sent:
            await self.release.wait()
        self.sent.append(text)

    async def receive_text(self) -> str:
        await asyncio.Event().wait()
        return ""

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


@pytest.mark.parametrize("policy", list(DropPolicy))
async def test_pump_applies_the_policy_to_a_burst(settings: Settings, policy: DropPolicy) -> None:
    """Ten retained events reach a connection whose queue holds three: one read, one policy decision."""
    redis = Redis.from_url(settings.redis_url or "")
    bus = EventBus(redis)
    tenant, conversation = "tenant-ws", str(uuid.uuid4())
    for i in range(10):
        await bus.publish(tenant, conversation, EventType.TOKEN, {"index": i})
    socket = SlowSocket()
    queue = BoundedEventQueue(3, policy)
    running = asyncio.create_task(pump(socket, bus, tenant, conversation, "0-0", queue, settings))
    try:
        await asyncio.sleep(0.3)
        socket.release.set()
        await asyncio.sleep(0.3)
        indexes = [json.loads(m)["data"]["index"] for m in socket.sent]
        if policy == DropPolicy.DISCONNECT:
            assert socket.closed == (1013, "slow consumer")
            assert running.done()
            # What was queued before the overflow may still go out; nothing after it does.
            assert indexes == list(range(len(indexes))) and len(indexes) <= 3
        elif policy == DropPolicy.DROP_OLDEST:
            assert indexes == [7, 8, 9] and queue.dropped == 7
            assert [json.loads(m)["dropped"] for m in socket.sent] == [7, 7, 7]
        else:
            assert indexes == [0, 1, 2] and queue.dropped == 7
        # Later events still flow to a connection that survived.
        if policy != DropPolicy.DISCONNECT:
            await bus.publish(tenant, conversation, EventType.TOKEN, {"index": 10})
            await asyncio.sleep(0.3)
            assert json.loads(socket.sent[-1])["data"]["index"] == 10
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await bus.purge(tenant, conversation)
        await redis.aclose()
