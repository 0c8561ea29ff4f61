"""`IngestDocumentWorkflow` scenarios: a document ingested to `ready` in several embedding windows, and an
unreadable (encrypted) PDF that ends `failed` with its reason; `ReembedCollectionWorkflow` moving a collection
to another model, and one cancelled midway."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from contracts.knowledge import EMBED_WINDOW, IngestDocumentInput, IngestDocumentResult
from contracts.knowledge_reembed import REEMBED_WINDOW, ReembedInput, ReembedResult
from contracts.names import WF_INGEST_DOCUMENT, WF_REEMBED_COLLECTION
from knowledge import catalog, reembeds
from knowledge.embeddings import HASHING_DIM, HASHING_MODEL, OFFLINE_DIM, OFFLINE_MODEL
from tests.knowledge import documents
from tests.workflows.scenarios import Recording


async def _ingest(rec: Recording, name: str, content: bytes, filename: str, media_type: str) -> WorkflowHandle:
    tenant_id = await rec.new_tenant(name)
    async with rec.db.tenant_session(tenant_id) as session:
        collection = await catalog.create_collection(
            session, tenant_id, name="Help", description="", model=OFFLINE_MODEL, dim=OFFLINE_DIM
        )
        assert collection is not None
        document, _ = await catalog.add_document(
            session, tenant_id, collection.id, filename=filename, media_type=media_type, content=content,
            groups=[], metadata={},
        )  # fmt: skip
    return await rec.client.start_workflow(
        WF_INGEST_DOCUMENT,
        IngestDocumentInput(tenant_id=tenant_id, collection_id=collection.id, document_id=document.id),
        id=f"{tenant_id}:ingest:{document.id}",
        task_queue=rec.queue,
        result_type=IngestDocumentResult,
    )


async def ready(rec: Recording) -> list[WorkflowHandle]:
    # A section per rule, so more chunks than one embedding window takes: the workflow loops.
    text = "\n\n".join(f"## Rule {i}\n\nRule {i} of the returns policy." for i in range(EMBED_WINDOW + 40))
    handle = await _ingest(rec, "ingest ready", text.encode(), "rules.md", "text/markdown")
    result = await handle.result()
    assert result.status == "ready" and result.chunks == EMBED_WINDOW + 40, result
    return [handle]


async def unreadable(rec: Recording) -> list[WorkflowHandle]:
    handle = await _ingest(rec, "ingest failed", documents.encrypted_pdf("secret"), "locked.pdf", "application/pdf")
    result = await handle.result()
    assert result.status == "failed" and "encrypted" in result.reason, result
    return [handle]


async def _start_reembed(
    rec: Recording, name: str, source: tuple[str, int], target: tuple[str, int]
) -> tuple[str, reembeds.Reembed, WorkflowHandle]:
    """A collection of `source`-model chunks (one embedding window and 20 more), and its re-embed with `target`
    started: the tenant, the run's record and the workflow's handle."""
    tenant_id = await rec.new_tenant(name)
    async with rec.db.tenant_session(tenant_id) as session:
        collection = await catalog.create_collection(
            session, tenant_id, name="Help", description="", model=source[0], dim=source[1]
        )
        assert collection is not None
    text = "\n\n".join(f"## Rule {i}\n\nRule {i} of the returns policy." for i in range(REEMBED_WINDOW + 20))
    ingest = await _ingest_into(rec, tenant_id, collection.id, text.encode())
    assert (await ingest.result()).status == "ready"
    async with rec.db.tenant_session(tenant_id) as session:
        started = await reembeds.create(session, tenant_id, collection.id, model=target[0], dim=target[1])
        assert started is not None
    handle = await rec.client.start_workflow(
        WF_REEMBED_COLLECTION,
        ReembedInput(tenant_id=tenant_id, collection_id=collection.id, reembed_id=started.id),
        id=f"{tenant_id}:reembed:{collection.id}",
        task_queue=rec.queue,
        result_type=ReembedResult,
    )
    return tenant_id, started, handle


async def reembed(rec: Recording) -> list[WorkflowHandle]:
    """A collection of MiniLM chunks re-embedded with the hashing model: two embedding windows, the switch,
    the purge of the old vectors."""
    _tenant_id, _started, handle = await _start_reembed(
        rec, "reembed", (OFFLINE_MODEL, OFFLINE_DIM), (HASHING_MODEL, HASHING_DIM)
    )
    result = await handle.result()
    assert result.status == "completed" and result.embedded == REEMBED_WINDOW + 20, result
    return [handle]


async def _ingest_into(rec: Recording, tenant_id: str, collection_id: str, content: bytes) -> WorkflowHandle:
    async with rec.db.tenant_session(tenant_id) as session:
        document, _ = await catalog.add_document(
            session, tenant_id, collection_id, filename="rules.md", media_type="text/markdown", content=content,
            groups=[], metadata={},
        )  # fmt: skip
    return await rec.client.start_workflow(
        WF_INGEST_DOCUMENT,
        IngestDocumentInput(tenant_id=tenant_id, collection_id=collection_id, document_id=document.id),
        id=f"{tenant_id}:ingest:{document.id}",
        task_queue=rec.queue,
        result_type=IngestDocumentResult,
    )


async def reembed_cancelled(rec: Recording) -> list[WorkflowHandle]:
    """A collection of hashing-model chunks moving to MiniLM, cancelled as the API cancels it once the first
    batch is written: the window stops, the run is marked cancelled, the partial slot purged, the run cancelled."""
    tenant_id, started, handle = await _start_reembed(
        rec, "reembed cancelled", (HASHING_MODEL, HASHING_DIM), (OFFLINE_MODEL, OFFLINE_DIM)
    )
    for _ in range(600):
        async with rec.db.tenant_session(tenant_id) as session:
            if (await reembeds.counts(session, started))[0] > 0:
                break
        await asyncio.sleep(0.1)
    async with rec.db.tenant_session(tenant_id) as session:  # as the API does
        assert await reembeds.request_cancel(session, started.id) is not None
        await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError), failure.value.cause
    async with rec.db.tenant_session(tenant_id) as session:
        final = await reembeds.get(session, started.id)
        assert final is not None and final.status == "cancelled" and final.switched_at is None
        assert await reembeds.counts(session, started) == (0, REEMBED_WINDOW + 20)
    return [handle]
