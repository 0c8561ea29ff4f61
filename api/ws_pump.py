"""Feeding one WebSocket from a conversation's event stream, at the client's pace.

A reader follows the stream into the connection's bounded queue (`api.streaming`), a sender drains the
queue to the socket, and a receiver notices the client going away. Whichever ends first ends the others:
a queue over its limit under the `disconnect` policy closes with 1013, a Redis gone for longer than the
stream rides out closes with 4503 `stream_unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import structlog
from fastapi import WebSocketDisconnect

from api.streaming import (
    STREAM_UNAVAILABLE,
    BoundedEventQueue,
    SlowConsumer,
    StreamUnavailable,
    follow,
    ws_keepalive,
    ws_message,
)
from core.events import EventBus
from core.settings import Settings
from core.telemetry import WS_DISCONNECTED_SLOW

# 1013 is the standard "try again later"; the others mirror HTTP statuses (4000 + status) like every refusal.
WS_SLOW = 1013
WS_UNAVAILABLE = 4503
WS_INTERNAL = 1011

log = structlog.get_logger("aiaas.api.ws")


class EventSocket(Protocol):
    async def send_text(self, data: str) -> None: ...

    async def receive_text(self) -> str: ...

    async def close(self, code: int, reason: str) -> None: ...


async def pump(
    websocket: EventSocket,
    bus: EventBus,
    tenant_id: str,
    conversation_id: str,
    cursor: str,
    queue: BoundedEventQueue,
    settings: Settings,
) -> None:
    ready = asyncio.Event()
    closed = asyncio.Event()
    keepalive_due = False

    async def is_closed() -> bool:
        return closed.is_set()

    async def reader() -> None:
        nonlocal keepalive_due
        async for event in follow(
            bus,
            tenant_id,
            conversation_id,
            cursor,
            keepalive_seconds=settings.sse_keepalive_seconds,
            retry_seconds=settings.stream_retry_seconds,
            disconnected=is_closed,
        ):
            if event is None:
                keepalive_due = True
            else:
                queue.put(event)
            ready.set()

    async def sender() -> None:
        nonlocal keepalive_due
        while not closed.is_set():
            await ready.wait()
            ready.clear()
            while (event := queue.pop()) is not None:
                await websocket.send_text(ws_message(event, queue.dropped))
            if keepalive_due:
                keepalive_due = False
                await websocket.send_text(ws_keepalive(queue.dropped))

    async def receiver() -> None:
        # Clients send nothing we act on; reading notices when they go away.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    tasks = [asyncio.create_task(t()) for t in (reader, sender, receiver)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.cancelled():
                continue
            failure = task.exception()
            if isinstance(failure, SlowConsumer):
                WS_DISCONNECTED_SLOW.inc()
                await _close(websocket, WS_SLOW, "slow consumer")
            elif isinstance(failure, StreamUnavailable):
                await _close(websocket, WS_UNAVAILABLE, STREAM_UNAVAILABLE)
            elif failure is not None and not isinstance(failure, WebSocketDisconnect):
                log.error("event socket failed", error_type=type(failure).__name__, exc_info=failure)
                await _close(websocket, WS_INTERNAL, "internal")
    finally:
        closed.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(websocket: EventSocket, code: int, reason: str) -> None:
    # The client may be gone already; there is nobody left to tell.
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason)
