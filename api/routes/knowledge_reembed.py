"""`/v1/knowledge/collections/{id}/reembed`: move a collection to another embedding model while it keeps serving.

`POST` starts `ReembedCollectionWorkflow` (202): every chunk is embedded with the new model into a second
vector slot while searches keep reading the old one; the collection switches model in one transaction once
nothing is missing, then its old vectors are purged. `GET` shows the latest re-embed with its progress.
An unknown model, a dimension that does not match the model's or the model the collection already uses is
422; a re-embed already running is 409. Another tenant's collection is 404 (row-level security).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.deps import DatabaseDep, SettingsDep, TemporalDep
from api.errors import ApiError
from api.knowledge_schemas import _TEXT, _Strict
from api.routes.knowledge import TENANT_ID, CollectionId, Manager, Reader
from contracts.knowledge_reembed import ReembedInput
from contracts.names import WF_REEMBED_COLLECTION
from core.settings import Settings
from knowledge import catalog, reembeds
from knowledge.embeddings import dimension_of
from tenancy.audit import record_event

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])


class ReembedIn(_Strict):
    embedding_model: str = Field(min_length=1, max_length=200, pattern=_TEXT, description="the new model")
    embedding_dim: int | None = Field(
        default=None, ge=1, le=4096, description="optional: checked against the model's dimension"
    )


class ReembedOut(BaseModel):
    id: str
    collection_id: str
    from_model: str
    from_dim: int
    to_model: str
    to_dim: int
    status: str
    # Chunks that have a vector of the new model (as of the last finished batch window).
    embedded: int
    reason: str
    created_at: datetime
    switched_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, r: reembeds.Reembed) -> ReembedOut:
        return cls(**{k: v for k, v in r.__dict__.items() if k != "to_slot"})


async def start_reembed(
    client: Client, settings: Settings, tenant_id: str, collection_id: str, reembed_id: str
) -> None:
    await client.start_workflow(
        WF_REEMBED_COLLECTION,
        ReembedInput(tenant_id=tenant_id, collection_id=collection_id, reembed_id=reembed_id),
        id=f"{tenant_id}:reembed:{collection_id}",
        task_queue=settings.task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT_ID, tenant_id)]),
    )


@router.post("/collections/{collection_id}/reembed", status_code=status.HTTP_202_ACCEPTED, response_model=ReembedOut)
async def reembed_collection(
    collection_id: CollectionId, body: ReembedIn, principal: Manager, db: DatabaseDep, temporal: TemporalDep,
    settings: SettingsDep,
) -> ReembedOut:  # fmt: skip
    """Re-embed every chunk with `embedding_model`; searches use the old model until the switch."""
    dim = dimension_of(body.embedding_model)
    if dim is None:
        raise ApiError(
            422, "unknown_embedding_model", f"no known dimension for {body.embedding_model}",
            {"model": body.embedding_model},
        )  # fmt: skip
    if body.embedding_dim is not None and body.embedding_dim != dim:
        raise ApiError(
            422, "embedding_dim_mismatch", f"{body.embedding_model} has {dim} dimensions",
            {"model": body.embedding_model, "dimension": dim, "requested": body.embedding_dim},
        )  # fmt: skip
    async with db.tenant_session(principal.tenant_id) as session:
        collection = await catalog.get_collection(session, str(collection_id))
        if collection is None:
            raise ApiError(404, "collection_not_found", "no such collection")
        if collection.embedding_model == body.embedding_model:
            raise ApiError(
                422, "embedding_model_unchanged", "the collection already uses that model",
                {"model": body.embedding_model},
            )  # fmt: skip
        created = await reembeds.create(
            session, principal.tenant_id, collection.id, model=body.embedding_model, dim=dim
        )
        if created is None:
            raise ApiError(409, "reembed_running", "a re-embed of this collection is already running")
        await record_event(
            session, tenant_id=principal.tenant_id, actor=principal.subject, action="knowledge.reembed_started",
            target=collection.id, details={"from": collection.embedding_model, "to": body.embedding_model},
        )  # fmt: skip
        # Started inside the transaction: if the start fails, no `running` row is left without a workflow.
        try:
            await start_reembed(temporal, settings, principal.tenant_id, collection.id, created.id)
        except WorkflowAlreadyStartedError as exc:
            raise ApiError(409, "reembed_running", "a re-embed of this collection is already running") from exc
    return ReembedOut.of(created)


@router.get("/collections/{collection_id}/reembed", response_model=ReembedOut)
async def get_reembed(collection_id: CollectionId, principal: Reader, db: DatabaseDep) -> ReembedOut:
    """The collection's latest re-embed: `running` (with `embedded` so far), `completed` or `failed` with why."""
    async with db.tenant_session(principal.tenant_id) as session:
        if await catalog.get_collection(session, str(collection_id)) is None:
            raise ApiError(404, "collection_not_found", "no such collection")
        found = await reembeds.latest(session, str(collection_id))
    if found is None:
        raise ApiError(404, "reembed_not_found", "this collection has never been re-embedded")
    return ReembedOut.of(found)
