"""A collection's (or one document's) ingestion progress over Server-Sent Events.

The ingestion activities publish `ingest.progress`, `ingest.completed` and `ingest.failed` to the tenant's
`knowledge` stream (`knowledge/ingest_activities.py`); this route follows that stream with the same machinery
as a conversation's events (`api/streaming.follow`: retained events first, then live; `Last-Event-ID` or
`after=` resumes exactly after an event; Redis failures ridden out from the cursor) and passes on only the
events of the collection asked for, or of one of its documents (`?document_id=`).

A document's stream ends after a terminal event once the document's row says it is settled (`ready` or
`failed`): replaying an older ingestion's `ingest.completed` while a re-ingest is under way does not end it.
The collection and the document are looked up under the caller's tenant first: another tenant's ids are 404.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from api.deps import DatabaseDep
from api.errors import ApiError
from api.routes.knowledge import CollectionId, Reader
from api.state import GatewayState
from api.streaming import KEEPALIVE, StreamUnavailable, follow, sse_error_frame, sse_frame
from contracts.events import EventType
from contracts.knowledge import KNOWLEDGE_STREAM, DocumentStatus
from core.events import Event, is_stream_id
from core.telemetry import STREAM_CONNECTIONS
from db.database import Database
from knowledge import catalog

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])

_START = "0-0"
_TERMINAL = frozenset({str(EventType.INGEST_COMPLETED), str(EventType.INGEST_FAILED)})
_SETTLED = frozenset({str(DocumentStatus.READY), str(DocumentStatus.FAILED)})
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def _cursor(last_event_id: str | None) -> str:
    if not last_event_id:
        return _START
    if not is_stream_id(last_event_id):
        raise ApiError(400, "invalid_event_id", "Last-Event-ID must look like `<milliseconds>-<sequence>`")
    return last_event_id


def _concerns(event: Event, collection_id: str, document_id: str | None) -> bool:
    data = event.data
    return data.get("collection_id") == collection_id and (
        document_id is None or data.get("document_id") == document_id
    )


async def _settled(db: Database, tenant_id: str, collection_id: str, document_id: str) -> bool:
    async with db.tenant_session(tenant_id) as session:
        document = await catalog.get_document(session, collection_id, document_id)
    # A document deleted meanwhile will not report again either.
    return document is None or document.status in _SETTLED


async def ingest_stream(
    state: GatewayState, tenant_id: str, collection_id: str, document_id: str | None, cursor: str,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:  # fmt: skip
    yield "retry: 2000\n\n"
    events = follow(
        state.bus, tenant_id, KNOWLEDGE_STREAM, cursor,
        keepalive_seconds=state.settings.sse_keepalive_seconds,
        retry_seconds=state.settings.stream_retry_seconds,
        disconnected=disconnected,
    )  # fmt: skip
    try:
        async for event in events:
            if event is None:
                yield f": {KEEPALIVE}\n\n"
                continue
            if not _concerns(event, collection_id, document_id):
                continue
            yield sse_frame(event)
            if (
                document_id
                and event.type in _TERMINAL
                and await _settled(state.db, tenant_id, collection_id, document_id)
            ):
                return
    except StreamUnavailable as exc:
        yield sse_error_frame(exc)


@router.get(
    "/collections/{collection_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "ingestion events, as SSE"}},
)
async def collection_events(
    collection_id: CollectionId,
    request: Request,
    principal: Reader,
    db: DatabaseDep,
    document_id: Annotated[
        uuid.UUID | None, Query(description="only this document's events; ends when it settles")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=64, description="resume after this event id")] = None,
) -> Response:
    cursor = _cursor(last_event_id or after)
    async with db.tenant_session(principal.tenant_id) as session:
        if await catalog.get_collection(session, str(collection_id)) is None:
            raise ApiError(404, "collection_not_found", "no such collection")
        if (
            document_id is not None
            and await catalog.get_document(session, str(collection_id), str(document_id)) is None
        ):
            raise ApiError(404, "document_not_found", "no such document")
    STREAM_CONNECTIONS.labels(transport="sse").inc()
    body = ingest_stream(
        request.app.state.gateway, principal.tenant_id, str(collection_id),
        str(document_id) if document_id is not None else None, cursor, request.is_disconnected,
    )  # fmt: skip
    return StreamingResponse(body, media_type="text/event-stream", headers=_SSE_HEADERS)
