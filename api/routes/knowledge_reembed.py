"""`/v1/knowledge/collections/{id}/reembed`: move a collection to another embedding model while it keeps serving.

`POST` starts `ReembedCollectionWorkflow` (202): every chunk is embedded with the new model into a second
vector slot while searches keep reading the old one; the collection switches model in one transaction once
nothing is missing, then its old vectors are purged. `GET` shows the latest re-embed with its progress.
`POST .../reembed/cancel` stops a running re-embed (202): a Temporal cancellation of its workflow, which ends
the run `cancelled` and purges the partial new vectors, the old model serving throughout. Once the collection has
switched it is too late (409 `reembed_switched`); nothing running is 409 `reembed_not_running`.
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
from temporalio.service import RPCError, RPCStatusCode

from api.deps import DatabaseDep, SettingsDep, TemporalDep
from api.errors import ApiError
from api.knowledge_schemas import _TEXT, _Strict
from api.routes.knowledge import CollectionId, Manager, Reader
from contracts.knowledge_reembed import ReembedInput
from contracts.names import WF_REEMBED_COLLECTION
from contracts.search_attributes import TENANT_ID
from core.settings import Settings
from db.database import Database
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
    # Set when a cancel was accepted; the run stays `running` until its partial vectors are purged.
    cancel_requested_at: datetime | None

    @classmethod
    def of(cls, r: reembeds.Reembed) -> ReembedOut:
        return cls(**{k: v for k, v in r.__dict__.items() if k != "to_slot"})


def reembed_workflow_id(tenant_id: str, collection_id: str) -> str:
    return f"{tenant_id}:reembed:{collection_id}"


async def start_reembed(
    client: Client, settings: Settings, tenant_id: str, collection_id: str, reembed_id: str
) -> None:
    await client.start_workflow(
        WF_REEMBED_COLLECTION,
        ReembedInput(tenant_id=tenant_id, collection_id=collection_id, reembed_id=reembed_id),
        id=reembed_workflow_id(tenant_id, collection_id),
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
    # Started once the row is committed: the run's first step reads it, and a run started inside the transaction
    # could read before the commit, find nothing and end, leaving the row `running` with no workflow. A start
    # that fails closes the row again, so a retry is free to start.
    try:
        await start_reembed(temporal, settings, principal.tenant_id, collection.id, created.id)
    except WorkflowAlreadyStartedError as exc:
        await _not_started(db, principal.tenant_id, created.id)
        raise ApiError(409, "reembed_running", "a re-embed of this collection is already running") from exc
    except RPCError as exc:
        await _not_started(db, principal.tenant_id, created.id)
        raise ApiError(503, "engine_unavailable", "the workflow engine did not answer; retry shortly") from exc
    return ReembedOut.of(created)


async def _not_started(db: Database, tenant_id: str, reembed_id: str) -> None:
    async with db.tenant_session(tenant_id) as session:
        await reembeds.finish(session, reembed_id, "failed", "its workflow could not start")


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


@router.post(
    "/collections/{collection_id}/reembed/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=ReembedOut
)
async def cancel_reembed(
    collection_id: CollectionId, principal: Manager, db: DatabaseDep, temporal: TemporalDep
) -> ReembedOut:
    """Stop the running re-embed: its partial vectors are purged and the collection keeps its old model.

    202 with the run (`cancel_requested_at` set, `status` still `running` until the embedding in flight has
    stopped, then `cancelled`; the partial vectors, which no search reads, are purged right after and the run
    ends Canceled in Temporal); asking again while it winds down is answered the same. 409 `reembed_switched`
    once the collection reads the new model (the run completes), 409 `reembed_not_running` when nothing runs."""
    async with db.tenant_session(principal.tenant_id) as session:
        if await catalog.get_collection(session, str(collection_id)) is None:
            raise ApiError(404, "collection_not_found", "no such collection")
        latest = await reembeds.latest(session, str(collection_id))
        if latest is None:
            raise ApiError(404, "reembed_not_found", "this collection has never been re-embedded")
        # Under the collection's lock, the one the switch takes: either the switch or the cancel comes first.
        r = await reembeds.request_cancel(session, latest.id)
        if r is None:
            raise ApiError(404, "collection_not_found", "no such collection")
        if r.status == "running" and r.switched_at is not None:
            raise ApiError(
                409, "reembed_switched", "too late to cancel: the collection already uses the new model",
                {"reembed_id": r.id, "model": r.to_model},
            )  # fmt: skip
        if r.status != "running":
            raise ApiError(
                409, "reembed_not_running", "no re-embed of this collection is running",
                {"reembed_id": r.id, "status": r.status},
            )  # fmt: skip
        if latest.cancel_requested_at is not None:
            return ReembedOut.of(r)  # already winding down
        await record_event(
            session, tenant_id=principal.tenant_id, actor=principal.subject, action="knowledge.reembed_cancelled",
            target=r.collection_id, details={"reembed_id": r.id, "from": r.from_model, "to": r.to_model},
        )  # fmt: skip
        # Sent before the request commits: a request the engine refused leaves nothing recorded, and the workflow
        # always holds the cancel before an activity can read the recorded request.
        handle = temporal.get_workflow_handle(reembed_workflow_id(principal.tenant_id, r.collection_id))
        try:
            await handle.cancel()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ApiError(409, "reembed_not_running", "the re-embed's workflow has ended") from exc
            raise ApiError(503, "engine_unavailable", "the workflow engine did not answer; retry shortly") from exc
    return ReembedOut.of(r)
