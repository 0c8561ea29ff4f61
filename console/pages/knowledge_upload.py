"""A document uploaded from the console, and the live status of a collection's documents and re-embed.

The upload is the API's own `upload_document`, with the same limits and refusals: over the plan's size 413,
an unsupported type 415, a full collection 409, each shown on the collection's page with that status. The
form is multipart, so its CSRF token is read only after the body's size has been checked against the plan
(a request declaring more than the plan allows is refused before its body is read), and the form is parsed
once, with the API's own limits (Starlette keeps the parsed form for the API's function).

The live view is the API's knowledge event stream (`ingest_stream`, as `GET /v1/knowledge/collections/{id}
/events` serves it) opened by the page's `EventSource` with the session's cookie: the console's routes are
the ones that read it, so no ticket is needed. The page passes `after=` (the stream's newest event when the
page read the documents); a reconnecting browser sends `Last-Event-ID`, which wins.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.exceptions import HTTPException
from fastapi.responses import RedirectResponse, StreamingResponse

from api.errors import ApiError
from api.routes.knowledge import Manager, Reader, upload_document
from api.routes.knowledge_events import _SSE_HEADERS, _cursor, ingest_stream
from console.pages.knowledge import FORM_ERRORS, IdText, collection_page, collection_url, known_id
from console.web import CSRF_FIELD, PREFIX, ConsoleRoute, ViewerDep, same_origin
from core.telemetry import STREAM_CONNECTIONS
from knowledge import catalog
from knowledge.limits import limits_for_tenant
from tenancy.web_sessions import csrf_matches

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

_CSRF_REFUSED = ApiError(403, "csrf_failed", "the form was stale or not sent from this console; reload and try again")
# Room for the form's other fields and the multipart framing around the file (as the API allows).
_FRAMING = 64 * 1024


@router.post("/knowledge/collections/{collection_id}/documents")
async def upload(collection_id: IdText, viewer: ViewerDep) -> Response:
    request = viewer.request
    if not same_origin(request):
        raise _CSRF_REFUSED
    principal = await viewer.check(Manager)
    state = viewer.state
    cid = known_id(collection_id, "collection")
    async with state.db.tenant_session(principal.tenant_id) as session:
        limits = await limits_for_tenant(session, principal.tenant_id)
    try:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_document_bytes + _FRAMING:
            raise ApiError(
                413, "file_too_large", f"a document may have at most {limits.max_document_bytes} bytes",
                {"max": limits.max_document_bytes},
            )  # fmt: skip
        try:
            form = await request.form(max_files=1, max_fields=4, max_part_size=limits.max_document_bytes + 1)
        except HTTPException as exc:
            raise ApiError(400, "invalid_form", f"the upload could not be read: {exc.detail}") from exc
        token = form.get(CSRF_FIELD)
        if not csrf_matches(viewer.session_id, token if isinstance(token, str) else None):
            raise _CSRF_REFUSED
        await upload_document(cid, request, Response(), principal, state.db, state.temporal, state.settings)
    except ApiError as exc:
        if exc.status not in FORM_ERRORS and exc.status != 400:
            raise
        return await collection_page(viewer, cid, error=exc)
    return RedirectResponse(collection_url(cid), status_code=303)


@router.get("/knowledge/collections/{collection_id}/events")
async def events(
    collection_id: IdText,
    viewer: ViewerDep,
    after: Annotated[str | None, Query(max_length=64)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> Response:
    """The collection's ingestion and re-embed events, as Server-Sent Events, for the page's live view."""
    principal = await viewer.check(Reader)
    cid = known_id(collection_id, "collection")
    cursor = _cursor(last_event_id or after)
    state = viewer.state
    async with state.db.tenant_session(principal.tenant_id) as session:
        if await catalog.get_collection(session, str(cid)) is None:
            raise ApiError(404, "collection_not_found", "no such collection")
    STREAM_CONNECTIONS.labels(transport="sse").inc()
    body = ingest_stream(state, principal.tenant_id, str(cid), None, cursor, viewer.request.is_disconnected)
    return StreamingResponse(body, media_type="text/event-stream", headers=_SSE_HEADERS)
