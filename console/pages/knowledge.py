"""`/console/knowledge`: collections (list, create, delete), one collection's documents with their ingestion
status, deleting and re-ingesting a document, and the collection's re-embed (its latest run, starting one, and
cancelling a running one behind a confirmation checked here, as deleting a collection is).

Every handler calls the `/v1/knowledge` route's function after its own permission dependency (`Reader`:
`conversations:read`, `Manager`: `agents:manage`), so a page shows and refuses what the API does. Ids are
taken as text and a malformed one is the API's 404, as an id of another tenant's is (row-level security).
Uploads and the live status stream are in `knowledge_upload.py`, the search try-out in `knowledge_search.py`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.errors import ApiError
from api.knowledge_schemas import CollectionIn, CollectionOut
from api.routes.knowledge import (
    Manager,
    Reader,
    create_collection,
    delete_collection,
    delete_document,
    get_collection,
    list_collections,
    list_documents,
    reingest_document,
)
from api.routes.knowledge_reembed import ReembedIn, ReembedOut, cancel_reembed, get_reembed, reembed_collection
from console.pages.conversations import Cursor, page_request
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, Viewer, ViewerDep, render
from contracts.knowledge import KNOWLEDGE_STREAM, DocumentStatus
from knowledge.embeddings import HASHING_MODEL, HOSTED_DIMENSIONS, OFFLINE_MODEL

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

IdText = Annotated[str, Path(max_length=64)]
KNOWN_MODELS = [OFFLINE_MODEL, HASHING_MODEL, *sorted(HOSTED_DIMENSIONS)]
# Errors of a form that the page shows next to the form, with the API's status, rather than as an error page.
FORM_ERRORS = frozenset({409, 413, 415, 422})


def known_id(value: str, kind: str) -> uuid.UUID:
    """A path id as the API's UUID; anything else names nothing, as the API's 404 says."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, f"{kind}_not_found", f"no such {kind}") from None


def collection_url(collection_id: str | uuid.UUID) -> str:
    return f"{PREFIX}/knowledge/collections/{collection_id}"


def _invalid(exc: ValidationError) -> ApiError:
    fields = ", ".join(sorted({str(e.get("loc", ["?"])[0]) for e in exc.errors()}))
    return ApiError(422, "invalid_request", f"invalid value for: {fields}")


async def _collections_page(viewer: Viewer, cursor: str | None, error: ApiError | None = None) -> Response:
    principal = await viewer.check(Reader)
    page = await list_collections(principal, viewer.state.db, page_request(viewer, cursor))
    code = error.status if error else 200
    return render(viewer, viewer.request, "knowledge.html", code, page=page, error=error, models=KNOWN_MODELS)


@router.get("/knowledge")
async def collections(viewer: ViewerDep, cursor: Cursor = None) -> Response:
    return await _collections_page(viewer, cursor)


@router.post("/knowledge/collections")
async def create(
    viewer: CsrfViewerDep,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    embedding_model: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    principal = await viewer.check(Manager)
    try:
        body = CollectionIn(
            name=name.strip(), description=description.strip(), embedding_model=embedding_model.strip() or None
        )
        created = await create_collection(body, principal, viewer.state.db)
    except ValidationError as exc:
        return await _collections_page(viewer, None, _invalid(exc))
    except ApiError as exc:
        if exc.status not in FORM_ERRORS:
            raise
        return await _collections_page(viewer, None, exc)
    return RedirectResponse(collection_url(created.id), status_code=303)


async def _reembed(viewer: Viewer, collection_id: uuid.UUID) -> ReembedOut | None:
    principal = await viewer.check(Reader)
    try:
        return await get_reembed(collection_id, principal, viewer.state.db)
    except ApiError as exc:
        if exc.code != "reembed_not_found":
            raise
        return None


async def collection_page(
    viewer: Viewer,
    collection_id: uuid.UUID,
    *,
    status: DocumentStatus | None = None,
    cursor: str | None = None,
    error: ApiError | None = None,
    notice: str = "",
) -> Response:
    """The collection with its documents; `error` (a refused form) is shown above its form, with its status."""
    principal = await viewer.check(Reader)
    state = viewer.state
    collection: CollectionOut = await get_collection(collection_id, principal, state.db)
    # Taken before the documents are read: the live view then applies every change made after this read.
    after = await state.bus.last_id(principal.tenant_id, KNOWLEDGE_STREAM)
    # Independent reads, each in its own transaction: side by side.
    documents, reembed = await asyncio.gather(
        list_documents(collection_id, principal, state.db, page_request(viewer, cursor), status),
        _reembed(viewer, collection_id),
    )
    context: dict[str, Any] = {
        "collection": collection,
        "documents": documents,
        "reembed": reembed,
        "status": str(status) if status else "",
        "statuses": [str(s) for s in DocumentStatus],
        "after": after,
        "error": error,
        "notice": notice,
        "models": [m for m in KNOWN_MODELS if m != collection.embedding_model],
        "ingest_run_prefix": viewer.run_url(f"{principal.tenant_id}:ingest:"),
        "reembed_run_url": viewer.run_url(f"{principal.tenant_id}:reembed:{collection.id}"),
    }
    return render(viewer, viewer.request, "knowledge_collection.html", error.status if error else 200, **context)


@router.get("/knowledge/collections/{collection_id}")
async def collection(
    collection_id: IdText,
    viewer: ViewerDep,
    status: Annotated[DocumentStatus | None, Query()] = None,
    cursor: Cursor = None,
) -> Response:
    return await collection_page(viewer, known_id(collection_id, "collection"), status=status, cursor=cursor)


@router.post("/knowledge/collections/{collection_id}/delete")
async def remove_collection(
    collection_id: IdText, viewer: CsrfViewerDep, confirm: Annotated[str, Form(max_length=8)] = ""
) -> Response:
    principal = await viewer.check(Manager)
    cid = known_id(collection_id, "collection")
    if confirm != "yes":
        # Every document goes with it: only when the box saying so was ticked (the page 404s for another's).
        error = ApiError(422, "confirmation_required", "tick the box to confirm that every document is deleted")
        return await collection_page(viewer, cid, error=error)
    await delete_collection(cid, principal, viewer.state.db)
    return RedirectResponse(f"{PREFIX}/knowledge", status_code=303)


@router.post("/knowledge/collections/{collection_id}/documents/{document_id}/delete")
async def remove_document(collection_id: IdText, document_id: IdText, viewer: CsrfViewerDep) -> Response:
    principal = await viewer.check(Manager)
    cid = known_id(collection_id, "collection")
    await delete_document(cid, known_id(document_id, "document"), principal, viewer.state.db)
    return RedirectResponse(collection_url(cid), status_code=303)


@router.post("/knowledge/collections/{collection_id}/documents/{document_id}/reingest")
async def reingest(collection_id: IdText, document_id: IdText, viewer: CsrfViewerDep) -> Response:
    principal = await viewer.check(Manager)
    state = viewer.state
    cid = known_id(collection_id, "collection")
    await reingest_document(cid, known_id(document_id, "document"), principal, state.db, state.temporal, state.settings)
    return RedirectResponse(collection_url(cid), status_code=303)


@router.post("/knowledge/collections/{collection_id}/reembed")
async def reembed(
    collection_id: IdText, viewer: CsrfViewerDep, embedding_model: Annotated[str, Form(max_length=400)] = ""
) -> Response:
    principal = await viewer.check(Manager)
    state = viewer.state
    cid = known_id(collection_id, "collection")
    try:
        body = ReembedIn(embedding_model=embedding_model.strip())
        await reembed_collection(cid, body, principal, state.db, state.temporal, state.settings)
    except ValidationError as exc:
        return await collection_page(viewer, cid, error=_invalid(exc))
    except ApiError as exc:
        if exc.status not in FORM_ERRORS:
            raise
        return await collection_page(viewer, cid, error=exc)
    return RedirectResponse(collection_url(cid), status_code=303)


@router.post("/knowledge/collections/{collection_id}/reembed/cancel")
async def cancel_reembed_run(
    collection_id: IdText, viewer: CsrfViewerDep, confirm: Annotated[str, Form(max_length=8)] = ""
) -> Response:
    principal = await viewer.check(Manager)
    state = viewer.state
    cid = known_id(collection_id, "collection")
    if confirm != "yes":
        error = ApiError(422, "confirmation_required", "tick the box to confirm that the new vectors are discarded")
        return await collection_page(viewer, cid, error=error)
    try:
        await cancel_reembed(cid, principal, state.db, state.temporal)
    except ApiError as exc:
        if exc.status not in FORM_ERRORS:
            raise
        return await collection_page(viewer, cid, error=exc)
    return RedirectResponse(collection_url(cid), status_code=303)
