"""`IngestDocumentWorkflow` scenarios: a document ingested to `ready` in several embedding windows, and an
unreadable (encrypted) PDF that ends `failed` with its reason."""

from __future__ import annotations

from temporalio.client import WorkflowHandle

from contracts.knowledge import EMBED_WINDOW, IngestDocumentInput, IngestDocumentResult
from contracts.names import WF_INGEST_DOCUMENT
from knowledge import catalog
from knowledge.embeddings import OFFLINE_DIM, OFFLINE_MODEL
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
