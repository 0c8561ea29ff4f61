"""Delivering a conversation's events: following the stream through Redis failures, SSE and WebSocket
framing, and a bounded per-connection queue with a drop policy.

Both transports read the same Redis Stream through `EventBus`; a cursor (the last event id) makes resume
exact: nothing lost, nothing repeated. The same cursor carries a stream across a Redis failure: the read is
retried from it, and only a Redis gone for longer than the stream waits ends the stream, with an error that
says so instead of a silent close.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum

import structlog
from redis.exceptions import RedisError

from api.errors import error_body
from core.events import Event, EventBus
from core.telemetry import WS_DROPPED

log = structlog.get_logger("aiaas.api.streaming")

_READ_BATCH = 200
KEEPALIVE = "keep-alive"
STREAM_ERROR = "stream.error"
STREAM_UNAVAILABLE = "stream_unavailable"
# Retrying a failed read: quickly at first (a failover or a dropped connection heals in moments), then
# no more often than every couple of seconds while Redis stays away.
_FIRST_RETRY_SECONDS = 0.1
_MAX_RETRY_SECONDS = 2.0
# Redis may end a block a hair before our clock says it is due; that still counts as a quiet interval.
_CLOCK_SLACK_SECONDS = 0.01


class DropPolicy(StrEnum):
    DROP_OLDEST = "drop-oldest"
    DROP_NEWEST = "drop-newest"
    DISCONNECT = "disconnect"


class SlowConsumer(Exception):
    """The connection fell behind and its policy says to disconnect it."""


class StreamUnavailable(Exception):
    """Redis failed every read for longer than a stream rides out; `cursor` is the last event delivered."""

    def __init__(self, cursor: str, failing_seconds: float) -> None:
        super().__init__(f"the event stream could not be read for {failing_seconds:.0f} s; reconnect to resume")
        self.cursor = cursor


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


def sse_error_frame(exc: StreamUnavailable) -> str:
    # No `id:` line: the client's Last-Event-ID stays at the last event it really got.
    error = error_body(STREAM_UNAVAILABLE, str(exc), {"last_event_id": exc.cursor})
    payload = json.dumps({"type": STREAM_ERROR, "data": error}, separators=(",", ":"))
    return f"event: {STREAM_ERROR}\ndata: {payload}\n\n"


def ws_message(event: Event, dropped: int) -> str:
    return json.dumps(
        {"id": event.id, "type": event.type, "data": event.data, "dropped": dropped}, separators=(",", ":")
    )


def ws_keepalive(dropped: int) -> str:
    # A browser's script never sees WebSocket pings, so silence is broken by a message it can read.
    return json.dumps({"type": KEEPALIVE, "dropped": dropped}, separators=(",", ":"))


def _block_ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


async def follow(
    bus: EventBus,
    tenant_id: str,
    conversation_id: str,
    cursor: str,
    *,
    keepalive_seconds: float,
    retry_seconds: float,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[Event | None]:
    """Retained events after `cursor`, then live ones; None whenever `keepalive_seconds` pass in silence.

    A failed read is retried from the last event delivered, with keep-alives going on meanwhile; reads that
    keep failing for `retry_seconds` raise `StreamUnavailable`.
    """
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    failing_since: float | None = None
    pause = _FIRST_RETRY_SECONDS
    while not await disconnected():
        due = quiet_since + keepalive_seconds
        try:
            events = await bus.read(
                tenant_id, conversation_id, cursor, block_ms=_block_ms(due - loop.time()), count=_READ_BATCH
            )
        except RedisError as exc:
            now = loop.time()
            # A warning when a stream first fails, not at every retry while Redis stays away.
            (log.warning if failing_since is None else log.info)(
                "event stream read failed; retrying", error_type=type(exc).__name__
            )
            failing_since = now if failing_since is None else failing_since
            if now - failing_since >= retry_seconds:
                log.warning("event stream given up", error_type=type(exc).__name__, failing_seconds=now - failing_since)
                raise StreamUnavailable(cursor, now - failing_since) from exc
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_RETRY_SECONDS)
            events = []
        else:
            failing_since = None
            pause = _FIRST_RETRY_SECONDS
        if events:
            for event in events:
                cursor = event.id
                yield event
            quiet_since = loop.time()
        elif loop.time() >= due - _CLOCK_SLACK_SECONDS:
            yield None
            quiet_since = loop.time()


async def sse_stream(
    bus: EventBus,
    tenant_id: str,
    conversation_id: str,
    cursor: str,
    *,
    keepalive_seconds: float,
    retry_seconds: float,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    # Tell the client how soon to reconnect; it resumes with Last-Event-ID.
    yield "retry: 2000\n\n"
    events = follow(
        bus,
        tenant_id,
        conversation_id,
        cursor,
        keepalive_seconds=keepalive_seconds,
        retry_seconds=retry_seconds,
        disconnected=disconnected,
    )
    try:
        async for event in events:
            yield f": {KEEPALIVE}\n\n" if event is None else sse_frame(event)
    except StreamUnavailable as exc:
        yield sse_error_frame(exc)
