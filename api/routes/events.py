"""A conversation's events over Server-Sent Events and WebSocket.

Without a cursor both replay the retained events from the start and then follow live, so a client that
posts first and connects second misses nothing. With one (`Last-Event-ID`, or `after=`) they resume
exactly after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.admission.deps import admission_of
from api.deps import BusDep, ConversationsReadDep, DatabaseDep, SettingsDep, authenticate
from api.errors import ApiError
from api.routes.conversations import ConversationId, load_conversation
from api.streaming import BoundedEventQueue, DropPolicy, SlowConsumer, follow, sse_stream
from core.events import Event, EventBus, is_stream_id
from core.telemetry import STREAM_CONNECTIONS, WS_DISCONNECTED_SLOW
from tenancy.permissions import Permission

router = APIRouter(prefix="/v1/conversations", tags=["events"])
# Apart from `router`: a WebSocket accepts before it authenticates, so it admits itself (see `websocket_events`)
# instead of running the /v1 router's admission dependency.
sockets = APIRouter(prefix="/v1/conversations", tags=["events"])

_START = "0-0"
# WebSocket close codes mirror the HTTP statuses (4000 + status); 1013 "try again later" for a slow consumer.
_WS_SLOW = 1013


def _cursor(last_event_id: str | None) -> str:
    if last_event_id is None or last_event_id == "":
        return _START
    if not is_stream_id(last_event_id):
        raise ApiError(400, "invalid_event_id", "Last-Event-ID must look like `<milliseconds>-<sequence>`")
    return last_event_id


@router.get(
    "/{conversation_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the conversation's events"}},
)
async def stream_events(
    conversation_id: ConversationId,
    request: Request,
    principal: ConversationsReadDep,
    db: DatabaseDep,
    bus: BusDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=64, description="resume after this event id")] = None,
) -> StreamingResponse:
    cursor = _cursor(last_event_id or after)
    conversation = await load_conversation(db, principal.tenant_id, str(conversation_id))
    STREAM_CONNECTIONS.labels(transport="sse").inc()
    body = sse_stream(
        bus,
        principal.tenant_id,
        conversation.id,
        cursor,
        keepalive_seconds=settings.sse_keepalive_seconds,
        disconnected=request.is_disconnected,
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@sockets.websocket("/{conversation_id}/ws")
async def websocket_events(
    websocket: WebSocket,
    conversation_id: ConversationId,
    drop_policy: DropPolicy = DropPolicy.DROP_OLDEST,
    queue_size: Annotated[int, Query(ge=1, le=10_000)] = 256,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> None:
    state = websocket.app.state.gateway
    # Accept first, so a refusal reaches the client as a close code and reason it can act on (a refusal
    # before the handshake is a bare HTTP 403 for every cause).
    await websocket.accept()
    try:
        principal = await authenticate(state, websocket.headers.get("authorization"), Permission.CONVERSATIONS_READ)
        # Opening a stream is a read like the SSE endpoint's, and is rate limited as one (close code 4429).
        await admission_of(websocket).check_request(principal, "GET", "/v1/conversations/{conversation_id}/ws")
        cursor = _cursor(after)
        conversation = await load_conversation(state.db, principal.tenant_id, str(conversation_id))
    except ApiError as exc:
        await websocket.close(code=4000 + exc.status, reason=exc.code)
        return
    STREAM_CONNECTIONS.labels(transport="websocket").inc()
    queue = BoundedEventQueue(queue_size, drop_policy)
    await _pump(websocket, state.bus, principal.tenant_id, conversation.id, cursor, queue, state.settings)


async def _pump(
    websocket: WebSocket,
    bus: EventBus,
    tenant_id: str,
    conversation_id: str,
    cursor: str,
    queue: BoundedEventQueue,
    settings: SettingsDep,
) -> None:
    """Reader fills the bounded queue from Redis; sender drains it to the socket at the client's pace."""
    ready = asyncio.Event()
    closed = asyncio.Event()

    async def is_closed() -> bool:
        return closed.is_set()

    async def reader() -> None:
        async for event in follow(
            bus,
            tenant_id,
            conversation_id,
            cursor,
            keepalive_seconds=settings.sse_keepalive_seconds,
            disconnected=is_closed,
        ):
            if event is not None:
                queue.put(event)
                ready.set()

    async def sender() -> None:
        while not closed.is_set():
            await ready.wait()
            ready.clear()
            while (event := queue.pop()) is not None:
                await websocket.send_text(_ws_message(event, queue.dropped))

    async def receiver() -> None:
        # Clients send nothing we act on; reading notices when they go away.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    tasks = [asyncio.create_task(t()) for t in (reader, sender, receiver)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if isinstance(task.exception(), SlowConsumer):
                WS_DISCONNECTED_SLOW.inc()
                with contextlib.suppress(Exception):
                    await websocket.close(code=_WS_SLOW, reason="slow consumer")
    finally:
        closed.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _ws_message(event: Event, dropped: int) -> str:
    import json

    return json.dumps(
        {"id": event.id, "type": event.type, "data": event.data, "dropped": dropped}, separators=(",", ":")
    )
