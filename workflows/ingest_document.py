"""`IngestDocumentWorkflow`: one document from its stored original to searchable chunks.

One run per document (id `"{tenant}:ingest:{document}"`): parse and chunk, embed in windows of batches
(each window one heartbeating activity that resumes where a killed attempt stopped), then mark the document
ready. The history holds ids and counts only; the bytes, text and vectors stay in Postgres. A file that
cannot be read ends the document `failed` with the parser's reason; a document deleted meanwhile ends the
run quietly. Progress shows in Temporal UI through the `progress` query and on the tenant's event stream.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.knowledge import (
        EMBED_HEARTBEAT,
        EMBED_TIMEOUT,
        FINISH_TIMEOUT,
        INGEST_RETRY,
        PARSE_TIMEOUT,
        DocumentRef,
        DocumentStatus,
        EmbedResult,
        FinishInput,
        IngestDocumentInput,
        IngestDocumentResult,
        KnowledgeErrorType,
        ParseResult,
    )
    from contracts.names import ACT_KNOWLEDGE_EMBED, ACT_KNOWLEDGE_FINISH, ACT_KNOWLEDGE_PARSE, WF_INGEST_DOCUMENT


def _error_type(exc: ActivityError) -> tuple[str | None, str]:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        return cause.type, cause.message
    return None, str(cause or exc)


@workflow.defn(name=WF_INGEST_DOCUMENT)
class IngestDocumentWorkflow:
    @workflow.init
    def __init__(self, inp: IngestDocumentInput) -> None:
        self._progress: dict[str, object] = {"stage": "starting", "chunks": 0, "embedded": 0}

    @workflow.run
    async def run(self, inp: IngestDocumentInput) -> IngestDocumentResult:
        ref = DocumentRef(tenant_id=inp.tenant_id, collection_id=inp.collection_id, document_id=inp.document_id)
        try:
            parsed = await workflow.execute_activity(
                ACT_KNOWLEDGE_PARSE, ref, result_type=ParseResult,
                start_to_close_timeout=PARSE_TIMEOUT, retry_policy=INGEST_RETRY, summary="parse and chunk",
            )  # fmt: skip
            self._progress.update(stage="embedding", chunks=parsed.chunks, pages=parsed.pages)
            while True:
                step = await workflow.execute_activity(
                    ACT_KNOWLEDGE_EMBED, ref, result_type=EmbedResult,
                    start_to_close_timeout=EMBED_TIMEOUT, heartbeat_timeout=EMBED_HEARTBEAT,
                    retry_policy=INGEST_RETRY, summary="embed",
                )  # fmt: skip
                self._progress["embedded"] = int(str(self._progress["embedded"])) + step.embedded
                if step.remaining == 0:
                    break
        except ActivityError as exc:
            kind, message = _error_type(exc)
            if kind == KnowledgeErrorType.DOCUMENT_GONE:
                self._progress["stage"] = "deleted"
                return IngestDocumentResult(document_id=inp.document_id, status="deleted")
            if kind != KnowledgeErrorType.DOCUMENT_UNREADABLE:
                # Out of retries for a reason the document does not explain: it still ends `failed`, with why.
                message = f"ingestion failed: {message}"
            return await self._finish(inp, DocumentStatus.FAILED, reason=message)
        return await self._finish(inp, DocumentStatus.READY, chunks=parsed.chunks)

    async def _finish(
        self, inp: IngestDocumentInput, status: DocumentStatus, *, reason: str = "", chunks: int = 0
    ) -> IngestDocumentResult:
        self._progress["stage"] = str(status)
        await workflow.execute_activity(
            ACT_KNOWLEDGE_FINISH,
            FinishInput(
                tenant_id=inp.tenant_id, collection_id=inp.collection_id, document_id=inp.document_id,
                status=status, reason=reason, chunks=chunks,
            ),
            start_to_close_timeout=FINISH_TIMEOUT, retry_policy=INGEST_RETRY, summary=str(status),
        )  # fmt: skip
        return IngestDocumentResult(document_id=inp.document_id, status=str(status), chunks=chunks, reason=reason)

    @workflow.query(name="progress")
    def progress(self) -> dict[str, object]:
        return dict(self._progress)
