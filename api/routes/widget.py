"""The embeddable web chat: `/widget.js` and the `/widget/v1` routes it calls from a tenant's pages.

A page embeds `<script src="https://GATEWAY/widget.js" data-key="wk_..."></script>`. The public key names the
tenant and its widget channel; every call carries it (`X-Widget-Key`) and must come from one of the channel's
allowed origins (the browser's `Origin`), which is also the only origin the CORS answers name. A visitor
starts a session (`POST /widget/v1/sessions`): a customer and a conversation of their own, and a visitor
token the gateway keeps only as a SHA-256 (the channel identity), sent back as `Authorization: Bearer`. The
script posts messages (`POST /widget/v1/messages`) and reads the conversation's events over SSE
(`GET /widget/v1/events`, read with `fetch` so the token travels in a header, never the URL), resuming with
`Last-Event-ID` after a drop or a gateway restart.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.admission.deps import admission_of
from api.channel_inbound import identity_for
from api.conversation_runs import NotConfirmed, submit
from api.deps import StateDep
from api.edge_limits import WidgetLimit
from api.errors import ApiError, error_body
from api.routes.conversations import load_conversation, message_id_for
from api.schemas import MessageCreate
from api.state import GatewayState
from api.streaming import sse_stream
from channels import store
from contracts.channels import ChannelKind
from core.events import is_stream_id

router = APIRouter(tags=["widget"], dependencies=[WidgetLimit])
_SCRIPT = files("api").joinpath("static/widget.js").read_bytes()
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_ALLOW_HEADERS = "Authorization, Content-Type, X-Widget-Key, Last-Event-ID"


class WidgetMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=20_000)
    client_message_id: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")


def _tenant_of(key: str) -> str:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "wk":
        raise ApiError(401, "widget_key_invalid", "X-Widget-Key is not a widget key")
    try:
        return str(uuid.UUID(hex=parts[1]))
    except ValueError:
        raise ApiError(401, "widget_key_invalid", "X-Widget-Key is not a widget key") from None


async def _channel(state: GatewayState, key: str | None, origin: str | None) -> tuple[str, store.Channel]:
    if not key:
        raise ApiError(401, "widget_key_missing", "the request carries no X-Widget-Key")
    tenant_id = _tenant_of(key)
    async with state.db.tenant_session(tenant_id) as session:
        channel = await store.channel_by_public_key(session, key)
    if channel is None or not channel.enabled or channel.kind != ChannelKind.WIDGET:
        raise ApiError(401, "widget_key_invalid", "no enabled widget has this key")
    if not origin or origin not in channel.settings.get("allowed_origins", []):
        raise ApiError(403, "origin_not_allowed", "this page's origin is not one the widget allows")
    return tenant_id, channel


def _visitor(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "visitor_token_missing", "the request carries no visitor token")
    return "visitor:" + hashlib.sha256(token.encode()).hexdigest()


async def _conversation(state: GatewayState, tenant_id: str, channel: store.Channel, authorization: str | None) -> str:
    async with state.db.tenant_session(tenant_id) as session:
        identity = await store.find_identity(session, channel.id, _visitor(authorization))
    if identity is None:
        raise ApiError(401, "visitor_token_invalid", "no session has this visitor token")
    return identity.conversation_id


def _cors(response: Response, origin: str) -> Response:
    response.headers["Access-Control-Allow-Origin"] = origin
    # The page's script reads Retry-After to wait out a 429 or 503 before sending the message again.
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.headers["Vary"] = "Origin"
    return response


Key = Annotated[str | None, Header(alias="X-Widget-Key")]
Origin = Annotated[str | None, Header()]
Authorization = Annotated[str | None, Header()]


@router.get("/widget.js", include_in_schema=False)
async def script() -> Response:
    return Response(_SCRIPT, media_type="text/javascript", headers={"Cache-Control": "public, max-age=300"})


@router.options("/widget/v1/{path:path}", include_in_schema=False)
async def preflight(path: str, origin: Origin = None) -> Response:
    # Which origins are allowed depends on the key, which a preflight does not carry: the real request is
    # checked, and its answer names the origin only when the widget allows it.
    response = Response(status_code=204)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = _ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers["Vary"] = "Origin"
    return response


@router.post("/widget/v1/sessions", status_code=status.HTTP_201_CREATED)
async def start_session(state: StateDep, key: Key = None, origin: Origin = None) -> Response:
    tenant_id, channel = await _channel(state, key, origin)
    token = secrets.token_urlsafe(32)
    async with state.db.tenant_session(tenant_id) as session:
        identity = await identity_for(session, tenant_id, channel, _visitor(f"Bearer {token}"), "")
    body = {"conversation_id": identity.conversation_id, "visitor_token": token}
    return _cors(JSONResponse(body, status_code=201), origin or "")


_MESSAGE_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": WidgetMessage.model_json_schema()}}}
}


@router.post("/widget/v1/messages", status_code=status.HTTP_202_ACCEPTED, openapi_extra=_MESSAGE_BODY)
async def post_message(
    request: Request, state: StateDep, key: Key = None, origin: Origin = None, authorization: Authorization = None
) -> Response:
    # Who is asking is settled before the body is read: a stranger learns nothing about what the route takes.
    tenant_id, channel = await _channel(state, key, origin)
    try:
        answer = await _take(request, state, tenant_id, channel, authorization)
    except ApiError as exc:
        # The origin is the widget's own: the page's script may read why, and retry a 503.
        body = error_body(exc.code, exc.message, exc.details)
        return _cors(JSONResponse(body, status_code=exc.status, headers=exc.headers), origin or "")
    return _cors(JSONResponse(answer, status_code=202), origin or "")


async def _take(
    request: Request, state: GatewayState, tenant_id: str, channel: store.Channel, authorization: str | None
) -> dict[str, object]:
    conversation_id = await _conversation(state, tenant_id, channel, authorization)
    try:
        body = WidgetMessage.model_validate_json(await request.body())
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "type": e["type"], "msg": e["msg"]} for e in exc.errors()]
        raise ApiError(422, "invalid_request", "the request is not valid", details) from None
    if not body.content.strip():
        raise ApiError(422, "message_empty", "message content is blank")
    conversation = await load_conversation(state.db, tenant_id, conversation_id)
    message_id = (
        message_id_for(conversation_id, body.client_message_id) if body.client_message_id else str(uuid.uuid4())
    )
    create = MessageCreate(content=body.content, client_message_id=body.client_message_id)
    # The widget's turns start on the engine like the API's: through the tenant's start rate and the fair
    # start queue (a refusal is a 429 with Retry-After, which the page's script may retry).
    admission = admission_of(request)
    plan = await admission.plans.plan_of(tenant_id)
    try:
        async with admission.starts.slot(plan):
            accepted = await submit(state.temporal, state.settings, tenant_id, conversation, message_id, create)
    except NotConfirmed as exc:
        raise ApiError(
            503, "not_confirmed", "send it again with the same client_message_id", headers={"Retry-After": "3"}
        ) from exc
    except WorkflowUpdateFailedError as exc:
        raise ApiError(422, "message_rejected", "the conversation refused the message") from exc
    except RPCError as exc:
        raise ApiError(503, "conversation_unavailable", "the conversation cannot take messages now") from exc
    return {"message_id": accepted.message_id, "duplicate": accepted.duplicate}


@router.get("/widget/v1/events")
async def events(
    request: Request,
    state: StateDep,
    key: Key = None,
    origin: Origin = None,
    authorization: Authorization = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    tenant_id, channel = await _channel(state, key, origin)
    conversation_id = await _conversation(state, tenant_id, channel, authorization)
    cursor = last_event_id or "0-0"
    if not is_stream_id(cursor):
        raise ApiError(400, "invalid_event_id", "Last-Event-ID must look like `<milliseconds>-<sequence>`")
    body = sse_stream(
        state.bus,
        tenant_id,
        conversation_id,
        cursor,
        keepalive_seconds=state.settings.sse_keepalive_seconds,
        retry_seconds=state.settings.stream_retry_seconds,
        disconnected=request.is_disconnected,
    )
    return _cors(StreamingResponse(body, media_type="text/event-stream", headers=_SSE_HEADERS), origin or "")
