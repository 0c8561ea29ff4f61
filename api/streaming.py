"""Delivering a conversation's events: SSE framing and a bounded per-connection queue with a drop policy.

Both transports read the same Redis Stream through `EventBus`; a cursor (the last event id) makes resume
exact: nothing lost, nothing repeated.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum

from core.events import Event, EventBus
from core.telemetry import WS_DROPPED

_READ_BATCH = 200


class DropPolicy(StrEnum):
    DROP_OLDEST = "drop-oldest"
    DROP_NEWEST = "drop-newest"
    DISCONNECT = "disconnect"


class SlowConsumer(Exception):
    """The connection fell behind and its policy says to disconnect it."""


class BoundedEventQueue:
    """A queue of at most `size` events; what happens when full is the connection's policy."""

    def __init__(self, size: int, policy: DropPolicy) -> None:
        if size < 1:
            raise ValueError("queue size must be at least 1")
        self.size = size
        self.policy = policy
        self.dropped = 0
        self._items: deque[Event] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, event: Event) -> None:
        if len(self._items) < self.size:
            self._items.append(event)
            return
        if self.policy == DropPolicy.DISCONNECT:
            raise SlowConsumer(f"more than {self.size} events waiting")
        self.dropped += 1
        WS_DROPPED.labels(policy=self.policy.value).inc()
        if self.policy == DropPolicy.DROP_OLDEST:
            self._items.popleft()
            self._items.append(event)
        # DROP_NEWEST: the new event is discarded.

    def pop(self) -> Event | None:
        return self._items.popleft() if self._items else None


def sse_frame(event: Event) -> str:
    payload = json.dumps({"type": event.type, "data": event.data}, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type}\ndata: {payload}\n\n"


async def follow(
    bus: EventBus,
    tenant_id: str,
    conversation_id: str,
    cursor: str,
    *,
    keepalive_seconds: float,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[Event | None]:
    """Retained events after `cursor`, then live ones; None whenever `keepalive_seconds` pass in silence."""
    block_ms = max(1, int(keepalive_seconds * 1000))
    while not await disconnected():
        events = await bus.read(tenant_id, conversation_id, cursor, block_ms=block_ms, count=_READ_BATCH)
        if not events:
            yield None
            continue
        for event in events:
            cursor = event.id
            yield event


async def sse_stream(
    bus: EventBus,
    tenant_id: str,
    conversation_id: str,
    cursor: str,
    *,
    keepalive_seconds: float,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    # Tell the client how soon to reconnect; it resumes with Last-Event-ID.
    yield "retry: 2000\n\n"
    async for event in follow(
        bus, tenant_id, conversation_id, cursor, keepalive_seconds=keepalive_seconds, disconnected=disconnected
    ):
        yield ": keep-alive\n\n" if event is None else sse_frame(event)
