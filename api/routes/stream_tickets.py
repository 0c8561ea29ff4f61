"""`POST /v1/conversations/{id}/stream-tickets`: a single-use ticket that opens the conversation's event stream.

For browsers, which cannot set an Authorization header on a WebSocket or an EventSource: the page asks for a
ticket with its token (through its own backend, say), then opens `.../ws?ticket=...` or `.../events?ticket=...`.
Asking needs what reading the events needs, `conversations:read`, on a conversation the caller's tenant can
see (404 otherwise, as if absent). The ticket opens one stream of this conversation, for this principal,
once, within `stream_ticket_ttl_seconds` (`tenancy.stream_tickets`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from api.deps import ConversationsReadDep, DatabaseDep, StateDep
from api.errors import ApiError
from api.routes.conversations import ConversationId, load_conversation
from api.stream_auth import tickets_of

router = APIRouter(prefix="/v1/conversations", tags=["events"])


class StreamTicketOut(BaseModel):
    ticket: str = Field(description="pass as `?ticket=` to `.../ws` or `.../events`; works once")
    expires_at: datetime = Field(description="unused after this, the ticket opens nothing")


# What the refusals mean here, for the schema's readers; each body is the usual error shape.
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no or invalid credentials"},
    403: {"description": "the credentials lack `conversations:read`"},
    404: {"description": "no such conversation in the caller's tenant"},
    503: {"description": "Redis, where tickets are kept, is unavailable"},
}


@router.post(
    "/{conversation_id}/stream-tickets",
    status_code=201,
    responses=_RESPONSES,
    summary="a single-use ticket that opens this conversation's event stream",
)
async def create_stream_ticket(
    conversation_id: ConversationId, principal: ConversationsReadDep, db: DatabaseDep, state: StateDep
) -> StreamTicketOut:
    conversation = await load_conversation(db, principal.tenant_id, str(conversation_id))
    try:
        issued = await tickets_of(state).issue(principal, conversation.id)
    except RedisError as exc:
        raise ApiError(503, "unavailable", "stream tickets cannot be issued right now; retry shortly") from exc
    return StreamTicketOut(ticket=issued.ticket, expires_at=issued.expires_at)
