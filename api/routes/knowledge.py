"""`/v1/knowledge`: collections of documents that the tenant's agents search.

A collection names its embedding model (the built-in offline one by default) and so its dimension. A document
is uploaded as `multipart/form-data` (`file`, optional `groups` as a comma-separated list, optional `metadata`
as a JSON object) and ingested by `IngestDocumentWorkflow`: the answer is 202 with the document `pending`,
its status then moves to `ready` or `failed` (with a reason). The same bytes twice in a collection are one
document (200 with the first). Unsupported types are 415, files over the plan's size 413, a full collection
409. Reading needs `conversations:read`, changing needs `agents:manage` (knowledge shapes what agents say).
Another tenant's collections and documents are invisible (row-level security) and answer 404. Searching and
customers' visibility groups are `api.routes.knowledge_search`.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import UploadFile
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from api.deps import DatabaseDep, SettingsDep, TemporalDep, requires
from api.errors import ApiError
from api.knowledge_schemas import (
    CollectionIn,
    CollectionOut,
    DocumentOut,
    clean_filename,
    has_control_characters,
    parse_groups,
)
from api.pagination import Page, PageDep
from contracts.knowledge import DocumentStatus, IngestDocumentInput
from contracts.names import WF_INGEST_DOCUMENT
from contracts.search_attributes import TENANT_ID
from core.settings import Settings
from db.database import Database
from knowledge import catalog
from knowledge.backends import store_for
from knowledge.embeddings import OFFLINE_MODEL, dimension_of
from knowledge.limits import limits_for_tenant
from knowledge.parsers import media_type_of
from knowledge.store import IndexUnavailable, Purge
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])

Reader = Annotated[TenantPrincipal, requires(Permission.CONVERSATIONS_READ)]
Manager = Annotated[TenantPrincipal, requires(Permission.AGENTS_MANAGE)]
CollectionId = Annotated[uuid.UUID, Path(description="the collection's id")]
DocumentId = Annotated[uuid.UUID, Path(description="the document's id")]
MULTIPART = "multipart/form-data"
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "groups": {"type": "string", "description": "visibility groups, comma-separated"},
                        "metadata": {"type": "string", "description": "a JSON object of string values"},
                    },
                }
            }
        },
    }
}


def not_found(kind: str) -> ApiError:
    """404 for a collection, document or customer this tenant has not (or cannot see)."""
    return ApiError(404, f"{kind}_not_found", f"no such {kind}")


async def start_ingestion(client: Client, settings: Settings, tenant_id: str, collection_id: str, doc_id: str) -> None:
    await client.start_workflow(
        WF_INGEST_DOCUMENT,
        IngestDocumentInput(tenant_id=tenant_id, collection_id=collection_id, document_id=doc_id),
        id=f"{tenant_id}:ingest:{doc_id}",
        task_queue=settings.task_queue,
        # A re-ingest replaces a run still in flight; its chunks are replaced wholesale by the new run.
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT_ID, tenant_id)]),
    )


@router.post("/collections", status_code=status.HTTP_201_CREATED, response_model=CollectionOut)
async def create_collection(body: CollectionIn, principal: Manager, db: DatabaseDep) -> CollectionOut:
    model = body.embedding_model or OFFLINE_MODEL
    dim = dimension_of(model)
    if dim is None:
        raise ApiError(422, "unknown_embedding_model", f"no known dimension for {model}", {"model": model})
    async with db.tenant_session(principal.tenant_id) as session:
        created = await catalog.create_collection(
            session, principal.tenant_id, name=body.name, description=body.description, model=model, dim=dim
        )
        if created is None:
            raise ApiError(409, "collection_exists", "a collection of that name exists", {"name": body.name})
        await record_event(
            session, tenant_id=principal.tenant_id, actor=principal.subject, action="knowledge.collection_created",
            target=created.id, details={"name": body.name, "embedding_model": model},
        )  # fmt: skip
    return CollectionOut.of(created)


@router.get("/collections", response_model=Page[CollectionOut])
async def list_collections(principal: Reader, db: DatabaseDep, page: PageDep) -> Page[CollectionOut]:
    scope = page.scope("knowledge_collections", principal.tenant_id)
    after = page.after(scope, str)
    async with db.tenant_session(principal.tenant_id) as session:
        rows = await catalog.list_collections(session, after=after[0] if after else None, limit=page.limit + 1)
    return page.of([CollectionOut.of(r) for r in rows], scope, key=lambda c: (c.id,))


@router.get("/collections/{collection_id}", response_model=CollectionOut)
async def get_collection(collection_id: CollectionId, principal: Reader, db: DatabaseDep) -> CollectionOut:
    async with db.tenant_session(principal.tenant_id) as session:
        found = await catalog.get_collection(session, str(collection_id))
    if found is None:
        raise not_found("collection")
    return CollectionOut.of(found)


@router.delete("/collections/{collection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_collection(collection_id: CollectionId, principal: Manager, db: DatabaseDep) -> Response:
    """Deletes the collection with every document and chunk of it, in one transaction."""
    async with db.tenant_session(principal.tenant_id) as session:
        if not await catalog.delete_collection(session, str(collection_id)):
            raise not_found("collection")
        await _purge(db, principal.tenant_id, Purge(collection_id=str(collection_id)), session)
        await record_event(
            session, tenant_id=principal.tenant_id, actor=principal.subject, action="knowledge.collection_deleted",
            target=str(collection_id), details={},
        )  # fmt: skip
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _read_upload(request: Request, max_bytes: int) -> tuple[UploadFile, list[str], dict[str, Any]]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise ApiError(413, "file_too_large", f"a document may have at most {max_bytes} bytes", {"max": max_bytes})
    form = await request.form(max_files=1, max_fields=4, max_part_size=max_bytes + 1)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "file_missing", "send the document as the form field `file`")
    groups_raw = form.get("groups")
    metadata_raw = form.get("metadata")
    groups = parse_groups(groups_raw if isinstance(groups_raw, str) else "")
    metadata: dict[str, Any] = {}
    if isinstance(metadata_raw, str) and metadata_raw.strip():
        try:
            metadata = json.loads(metadata_raw)
        except ValueError:
            metadata = None  # type: ignore[assignment]
        if not isinstance(metadata, dict) or len(metadata) > 10 or not all(
            isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 64 and len(v) <= 256
            and not has_control_characters(k + v)
            for k, v in metadata.items()
        ):  # fmt: skip
            raise ApiError(422, "invalid_metadata", "metadata must be a JSON object of short strings")
    return upload, groups, metadata


@router.post(
    "/collections/{collection_id}/documents",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentOut,
    openapi_extra=_UPLOAD_BODY,
)
async def upload_document(
    collection_id: CollectionId, request: Request, response: Response, principal: Manager, db: DatabaseDep,
    temporal: TemporalDep, settings: SettingsDep,
) -> DocumentOut:  # fmt: skip
    """Store a document and start its ingestion (202); the same bytes again return the first document (200)."""
    async with db.tenant_session(principal.tenant_id) as session:
        limits = await limits_for_tenant(session, principal.tenant_id)
        if await catalog.get_collection(session, str(collection_id)) is None:
            raise not_found("collection")
    upload, groups, metadata = await _read_upload(request, limits.max_document_bytes)
    media_type = media_type_of(upload.filename or "", upload.content_type)
    if media_type is None:
        raise ApiError(
            415, "unsupported_document_type", "upload PDF, DOCX, HTML, Markdown or plain text",
            {"received": upload.content_type, "filename": upload.filename},
        )  # fmt: skip
    content = await upload.read(limits.max_document_bytes + 1)
    if len(content) > limits.max_document_bytes:
        raise ApiError(413, "file_too_large", f"a document may have at most {limits.max_document_bytes} bytes")
    if not content:
        raise ApiError(422, "file_empty", "the file is empty")
    filename = clean_filename(upload.filename or "")
    async with db.tenant_session(principal.tenant_id) as session:
        if await catalog.count_documents(session, str(collection_id)) >= limits.max_documents:
            raise ApiError(409, "collection_full", f"a collection holds at most {limits.max_documents} documents")
        document, created = await catalog.add_document(
            session, principal.tenant_id, str(collection_id), filename=filename, media_type=media_type,
            content=content, groups=groups, metadata=metadata,
        )  # fmt: skip
    if not created:
        response.status_code = status.HTTP_200_OK
        return DocumentOut.of(document)
    await start_ingestion(temporal, settings, principal.tenant_id, str(collection_id), document.id)
    return DocumentOut.of(document)


@router.get("/collections/{collection_id}/documents", response_model=Page[DocumentOut])
async def list_documents(
    collection_id: CollectionId, principal: Reader, db: DatabaseDep, page: PageDep,
    status_: Annotated[DocumentStatus | None, Query(alias="status")] = None,
) -> Page[DocumentOut]:  # fmt: skip
    scope = page.scope("knowledge_documents", principal.tenant_id, collection=str(collection_id), status=status_)
    after = page.after(scope, str)
    async with db.tenant_session(principal.tenant_id) as session:
        if await catalog.get_collection(session, str(collection_id)) is None:
            raise not_found("collection")
        rows = await catalog.list_documents(
            session, str(collection_id), status=status_, after=after[0] if after else None, limit=page.limit + 1
        )
    return page.of([DocumentOut.of(r) for r in rows], scope, key=lambda d: (d.id,))


@router.get("/collections/{collection_id}/documents/{document_id}", response_model=DocumentOut)
async def get_document(
    collection_id: CollectionId, document_id: DocumentId, principal: Reader, db: DatabaseDep
) -> DocumentOut:
    async with db.tenant_session(principal.tenant_id) as session:
        found = await catalog.get_document(session, str(collection_id), str(document_id))
    if found is None:
        raise not_found("document")
    return DocumentOut.of(found)


@router.delete("/collections/{collection_id}/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(
    collection_id: CollectionId, document_id: DocumentId, principal: Manager, db: DatabaseDep
) -> Response:
    """Deletes the document, its original and its chunks in one transaction; an ingestion in flight ends."""
    async with db.tenant_session(principal.tenant_id) as session:
        if not await catalog.delete_document(session, str(collection_id), str(document_id)):
            raise not_found("document")
        await _purge(db, principal.tenant_id, Purge(document_ids=(str(document_id),)), session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/collections/{collection_id}/documents/{document_id}/reingest",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentOut,
)
async def reingest_document(
    collection_id: CollectionId, document_id: DocumentId, principal: Manager, db: DatabaseDep,
    temporal: TemporalDep, settings: SettingsDep,
) -> DocumentOut:  # fmt: skip
    async with db.tenant_session(principal.tenant_id) as session:
        found = await catalog.get_document(session, str(collection_id), str(document_id))
        if found is None:
            raise not_found("document")
        await catalog.set_status(session, found.id, DocumentStatus.PENDING)
    await start_ingestion(temporal, settings, principal.tenant_id, str(collection_id), found.id)
    return DocumentOut.of(found).model_copy(update={"status": DocumentStatus.PENDING, "reason": ""})


async def _purge(db: Database, tenant_id: str, target: Purge, session: AsyncSession) -> None:
    """Forgets the deleted chunks in the search index before the delete commits: a 204 means gone from both."""
    try:
        await store_for(db.tenant_session).purge(tenant_id, target, session=session)
    except IndexUnavailable as exc:
        raise index_unavailable() from exc


def index_unavailable() -> ApiError:
    """503 while the search index (Weaviate) cannot be reached: nothing was changed or searched."""
    return ApiError(503, "unavailable", "the knowledge search index is unavailable; try again shortly")
