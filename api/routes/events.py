"""A conversation's events over Server-Sent Events and WebSocket.

Without a cursor both replay the retained events from the start and then follow live, so a client that
posts first and connects second misses nothing. With one (`Last-Event-ID`, or `after=`) they resume
exactly after it. Either is opened with a bearer token or, from a browser, a stream ticket or the
`aiaas.bearer` subprotocol (`api.stream_auth`).

WebSocket refusals close the socket with 4000 + the HTTP status the same refusal would get and the error
code as the reason: 4400 a bad parameter, 4401 no or bad credentials or ticket, 4403 a missing permission or
another conversation's ticket, 4404 a conversation the tenant cannot see, 4429 rate limited, 4503 Redis
unavailable. 1013 ("try again later") closes a consumer too slow for its drop policy.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, WebSocket
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from redis.exceptions import RedisError
from starlette.datastructures import QueryParams

from api.admission.deps import admission_of
from api.deps import ConversationsReadDep, DatabaseDep
from api.errors import ApiError
from api.routes.conversations import ConversationId, load_conversation
from api.state import GatewayState
from api.stream_auth import (
    BEARER_SUBPROTOCOL,
    TICKET_PARAM,
    refuse_credentials_in_query,
    stream_principal,
    subprotocol_authorization,
)
from api.streaming import BoundedEventQueue, DropPolicy, sse_stream
from api.ws_pump import pump
from core.events import is_stream_id
from core.telemetry import STREAM_CONNECTIONS
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/conversations", tags=["events"])
# Apart from `router`: a WebSocket accepts before it authenticates, so it admits itself (see `websocket_events`)
# instead of running the /v1 router's admission dependency.
sockets = APIRouter(prefix="/v1/conversations", tags=["events"])

_START = "0-0"
_MAX_QUEUE = 10_000
_QUEUE_SIZE = re.compile(r"^[0-9]{1,6}$")
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def _cursor(last_event_id: str | None) -> str:
    if last_event_id is None or last_event_id == "":
        return _START
    if not is_stream_id(last_event_id):
        raise ApiError(400, "invalid_event_id", "Last-Event-ID must look like `<milliseconds>-<sequence>`")
    return last_event_id


def _conversation_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(400, "invalid_conversation_id", "the conversation id must be a UUID") from None


def _open_sse(request: Request, state: GatewayState, tenant_id: str, conversation_id: str, cursor: str) -> Response:
    STREAM_CONNECTIONS.labels(transport="sse").inc()
    body = sse_stream(
        state.bus,
        tenant_id,
        conversation_id,
        cursor,
        keepalive_seconds=state.settings.sse_keepalive_seconds,
        retry_seconds=state.settings.stream_retry_seconds,
        disconnected=request.is_disconnected,
    )
    return StreamingResponse(body, media_type="text/event-stream", headers=_SSE_HEADERS)


async def _ticketed_events(request: Request) -> Response:
    """The SSE route for a client that brings a stream ticket: authenticated by it, then admitted here."""
    state: GatewayState = request.app.state.gateway
    conversation_id = _conversation_id(str(request.path_params["conversation_id"]))
    # Checked before the ticket is spent, so a malformed cursor costs the client no ticket.
    cursor = _cursor(request.headers.get("last-event-id") or request.query_params.get("after"))
    principal = await stream_principal(
        state,
        conversation_id,
        authorization=request.headers.get("authorization"),
        ticket=request.query_params[TICKET_PARAM],
    )
    await admission_of(request).limit(request, principal)
    conversation = await load_conversation(state.db, principal.tenant_id, conversation_id)
    return _open_sse(request, state, principal.tenant_id, conversation.id, cursor)


class _EventStreamRoute(APIRoute):
    """The SSE route, also opened by a browser's EventSource, which can send `?ticket=` but no header.

    The /v1 router's admission depends on the Authorization header, so a ticketed request is taken out
    before the dependencies run and authenticated and admitted by `_ticketed_events` instead.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        by_header = super().get_route_handler()

        async def handle(request: Request) -> Response:
            refuse_credentials_in_query(request.query_params)
            if TICKET_PARAM in request.query_params:
                return await _ticketed_events(request)
            return await by_header(request)

        return handle


async def stream_events(
    conversation_id: ConversationId,
    request: Request,
    principal: ConversationsReadDep,
    db: DatabaseDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=64, description="resume after this event id")] = None,
    ticket: Annotated[
        str | None,
        Query(max_length=64, description="a stream ticket (`POST .../stream-tickets`) instead of a bearer token"),
    ] = None,
) -> Response:
    # `ticket` is here for the schema: a request that carries one is served by `_ticketed_events`.
    cursor = _cursor(last_event_id or after)
    conversation = await load_conversation(db, principal.tenant_id, str(conversation_id))
    return _open_sse(request, request.app.state.gateway, principal.tenant_id, conversation.id, cursor)


router.add_api_route(
    "/{conversation_id}/events",
    stream_events,
    methods=["GET"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the conversation's events"}},
    route_class_override=_EventStreamRoute,
)


@dataclass(frozen=True)
class _SocketOptions:
    conversation_id: str
    drop_policy: DropPolicy
    queue_size: int
    cursor: str
    ticket: str | None


def _socket_options(raw_conversation_id: str, params: QueryParams, default_queue_size: int) -> _SocketOptions:
    """The socket's parameters, checked by hand: FastAPI would refuse bad ones before the handshake, as a
    bare 403 that cannot say what was wrong."""
    refuse_credentials_in_query(params)
    conversation_id = _conversation_id(raw_conversation_id)
    policy_name = params.get("drop_policy", DropPolicy.DROP_OLDEST.value)
    try:
        policy = DropPolicy(policy_name)
    except ValueError:
        choices = ", ".join(p.value for p in DropPolicy)
        raise ApiError(400, "invalid_drop_policy", f"drop_policy must be one of {choices}") from None
    size_text = params.get("queue_size")
    size = default_queue_size if size_text is None else -1
    if size_text is not None and _QUEUE_SIZE.match(size_text):
        size = int(size_text)
    if not 1 <= size <= _MAX_QUEUE:
        raise ApiError(400, "invalid_queue_size", f"queue_size must be a whole number from 1 to {_MAX_QUEUE}")
    return _SocketOptions(conversation_id, policy, size, _cursor(params.get("after")), params.get(TICKET_PARAM))


async def _open_socket(websocket: WebSocket, state: GatewayState, options: _SocketOptions) -> TenantPrincipal:
    header = websocket.headers.get("authorization")
    offered = subprotocol_authorization(websocket.scope.get("subprotocols") or [])
    if header is not None and offered is not None:
        raise ApiError(400, "conflicting_credentials", "send the token in one place: a header or a subprotocol")
    principal = await stream_principal(
        state, options.conversation_id, authorization=header or offered, ticket=options.ticket
    )
    # Opening a stream is a read like the SSE endpoint's, and is rate limited as one (close code 4429); like
    # every other request, one the limiter cannot judge for want of Redis goes through.
    with contextlib.suppress(RedisError):
        await admission_of(websocket).check_request(principal, "GET", "/v1/conversations/{conversation_id}/ws")
    await load_conversation(state.db, principal.tenant_id, options.conversation_id)
    return principal


@sockets.websocket("/{conversation_id}/ws")
async def websocket_events(websocket: WebSocket, conversation_id: str) -> None:
    state: GatewayState = websocket.app.state.gateway
    # Accept first, so a refusal reaches the client as a close code and reason it can act on (a refusal
    # before the handshake is a bare HTTP 403 for every cause). A browser that offered the bearer
    # subprotocol fails the handshake unless it is selected; the token it came with is never echoed.
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in offered else None)
    try:
        options = _socket_options(conversation_id, websocket.query_params, state.settings.ws_queue_size)
        principal = await _open_socket(websocket, state, options)
    except ApiError as exc:
        await websocket.close(code=4000 + exc.status, reason=exc.code)
        return
    STREAM_CONNECTIONS.labels(transport="websocket").inc()
    queue = BoundedEventQueue(options.queue_size, options.drop_policy)
    tenant_id, settings = principal.tenant_id, state.settings
    await pump(websocket, state.bus, tenant_id, options.conversation_id, options.cursor, queue, settings)
