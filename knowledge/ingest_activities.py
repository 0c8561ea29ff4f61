"""The activities of `IngestDocumentWorkflow`: parse and chunk, embed in heartbeating batches, finish.

Each is idempotent, so a retry or a worker killed mid-way repeats nothing that matters:
  - parse replaces the document's chunks wholesale (one transaction), so a second run leaves one set;
  - embed writes each batch's vectors as it goes and only ever picks chunks that still lack one, so a retry
    resumes after the last batch written (the heartbeat details say how far it got, for Temporal UI);
  - finish sets the final status and publishes the outcome once (deduplicated by document and status).
Embeddings go into the slot the collection reads, with its model; when a re-embed switches the collection
meanwhile, the write is refused and the attempt is retried, and so re-reads the collection's new model.
A document deleted meanwhile ends the ingestion (`DocumentGone`); a file that cannot be read ends it
`failed` with the parser's reason (`DocumentUnreadable`), never retried.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.events import EventType
from contracts.knowledge import (
    EMBED_BATCH,
    EMBED_WINDOW,
    KNOWLEDGE_STREAM,
    DocumentRef,
    DocumentStatus,
    EmbedResult,
    FinishInput,
    KnowledgeErrorType,
    ParseResult,
)
from contracts.names import ACT_KNOWLEDGE_EMBED, ACT_KNOWLEDGE_FINISH, ACT_KNOWLEDGE_PARSE
from core.events import EventBus
from db.database import Database, run_sql
from knowledge import catalog
from knowledge.backends import store_for
from knowledge.chunking import chunk_sections
from knowledge.embeddings import EmbedderUnavailable, embedder_for
from knowledge.metrics import CHUNKS_EMBEDDED, DOCUMENTS_INGESTED
from knowledge.parsers import DocumentUnreadable, parse
from knowledge.store import ChunkRow, KnowledgeStore, slot_columns

log = structlog.get_logger(__name__)

# Embedding batches one worker process runs at once. A worker takes up to 200 activities; 200 ingestions
# embedding at once on two cores made every batch wait minutes for the thread pool, every attempt miss its
# heartbeat timeout and be retried while its abandoned batch still ran: no document advanced
# (`benchmarks/ingest_failures.py` found it). Waiting for a turn heartbeats, so a queue is not a death; a
# frozen or killed worker sends nothing and is still detected.
EMBED_CONCURRENCY = 2
_WAIT_BEAT_SECONDS = 10.0
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


async def embedding_turn(details: dict[str, int]) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    turns = _turns.setdefault(loop, asyncio.Semaphore(EMBED_CONCURRENCY))
    while True:
        try:
            await asyncio.wait_for(turns.acquire(), timeout=_WAIT_BEAT_SECONDS)
            return turns
        except TimeoutError:
            activity.heartbeat(details)


def _gone(ref: DocumentRef) -> ApplicationError:
    return ApplicationError(
        f"document {ref.document_id} no longer exists", type=KnowledgeErrorType.DOCUMENT_GONE, non_retryable=True
    )


class IngestActivities:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    @property
    def _store(self) -> KnowledgeStore:
        # Read when used: the process opens its backend (`knowledge.backends.open_backend`) after building this.
        return store_for(self._db.tenant_session)

    @activity.defn(name=ACT_KNOWLEDGE_PARSE)
    async def parse(self, ref: DocumentRef) -> ParseResult:
        async with self._db.tenant_session(ref.tenant_id) as session:
            document = await catalog.get_document(session, ref.collection_id, ref.document_id)
            collection = await catalog.get_collection(session, ref.collection_id)
            content = await catalog.read_source(session, ref.document_id)
            if document is None or collection is None or content is None:
                raise _gone(ref)
            await catalog.set_status(session, ref.document_id, DocumentStatus.PROCESSING)
        try:
            sections = parse(content, document.media_type)
        except DocumentUnreadable as exc:
            raise ApplicationError(str(exc), type=KnowledgeErrorType.DOCUMENT_UNREADABLE, non_retryable=True) from exc
        embedder = embedder_for(collection.embedding_model)
        chunks = chunk_sections(sections, count=embedder.count_tokens)
        rows = [ChunkRow(ord=c.ord, text=c.text, heading=c.heading, page=c.page) for c in chunks]
        await self._store.replace_chunks(
            ref.tenant_id, ref.document_id, ref.collection_id, rows, groups=document.groups, metadata=document.metadata
        )
        pages = max((s.page or 0 for s in sections), default=0)
        async with self._db.tenant_session(ref.tenant_id) as session:
            await catalog.set_status(session, ref.document_id, DocumentStatus.PROCESSING, pages=pages, chunks=len(rows))
        await self._publish(ref, EventType.INGEST_PROGRESS, {"stage": "parsed", "pages": pages, "chunks": len(rows)})
        return ParseResult(pages=pages, chunks=len(rows))

    @activity.defn(name=ACT_KNOWLEDGE_EMBED)
    async def embed(self, ref: DocumentRef) -> EmbedResult:
        async with self._db.tenant_session(ref.tenant_id) as session:
            collection = await catalog.get_collection(session, ref.collection_id)
            if collection is None:
                raise _gone(ref)
        embedder = embedder_for(collection.embedding_model)
        slot = collection.embedding_slot
        embedded = 0
        while embedded < EMBED_WINDOW:
            batch = await self._pending(ref, EMBED_BATCH, slot)
            if not batch:
                break
            turns = await embedding_turn({"embedded": embedded, "waiting": 1})
            try:
                vectors = await embedder.embed([text for _ord, text in batch])
            except EmbedderUnavailable as exc:
                raise ApplicationError(str(exc), type="EmbedderUnavailable") from exc
            finally:
                turns.release()
            written = await self._store.set_embeddings(
                ref.tenant_id, ref.document_id, {o: v for (o, _t), v in zip(batch, vectors, strict=True)},
                collection.embedding_dim, slot=slot, model=collection.embedding_model,
            )  # fmt: skip
            if written < len(batch):
                # The collection changed model (a re-embed switched it) or the document was replaced: retried,
                # the attempt reads the collection again.
                raise ApplicationError("the collection's embedding model changed", type="EmbeddingGenerationChanged")
            embedded += len(batch)
            CHUNKS_EMBEDDED.inc(len(batch))
            activity.heartbeat({"embedded": embedded, "last_ord": batch[-1][0]})
        remaining = await self._remaining(ref)
        await self._publish(ref, EventType.INGEST_PROGRESS, {"stage": "embedding", "remaining": remaining})
        return EmbedResult(embedded=embedded, remaining=remaining)

    @activity.defn(name=ACT_KNOWLEDGE_FINISH)
    async def finish(self, inp: FinishInput) -> None:
        async with self._db.tenant_session(inp.tenant_id) as session:
            found = await catalog.set_status(session, inp.document_id, inp.status, reason=inp.reason)
        if not found:
            return
        DOCUMENTS_INGESTED.labels(status=str(inp.status)).inc()
        ref = DocumentRef(tenant_id=inp.tenant_id, collection_id=inp.collection_id, document_id=inp.document_id)
        if inp.status == DocumentStatus.READY:
            await self._publish(ref, EventType.INGEST_COMPLETED, {"chunks": inp.chunks}, dedup=True)
        else:
            await self._publish(ref, EventType.INGEST_FAILED, {"reason": inp.reason}, dedup=True)

    async def _pending(self, ref: DocumentRef, limit: int, slot: int) -> list[tuple[int, str]]:
        column, _dim = slot_columns(slot)
        async with self._db.tenant_session(ref.tenant_id) as session:
            exists = (
                await run_sql(session, "SELECT 1 FROM knowledge_documents WHERE id = :d", {"d": ref.document_id})
            ).first()
            if exists is None:
                raise _gone(ref)
            rows = await run_sql(
                session,
                f"SELECT ord, heading, text FROM knowledge_chunks WHERE document_id = :d AND {column} IS NULL"  # noqa: S608
                " ORDER BY ord LIMIT :n",
                {"d": ref.document_id, "n": limit},
            )
            # The heading is part of what a chunk is about: embedded with its text, as the full-text vector is.
            return [(r.ord, f"{r.heading}\n{r.text}" if r.heading else r.text) for r in rows]

    async def _remaining(self, ref: DocumentRef) -> int:
        """Chunks without a vector in the slot the collection reads now (after a switch, the new one)."""
        async with self._db.tenant_session(ref.tenant_id) as session:
            collection = await catalog.get_collection(session, ref.collection_id)
            if collection is None:
                raise _gone(ref)
            column, _dim = slot_columns(collection.embedding_slot)
            return int(
                (
                    await run_sql(
                        session,
                        f"SELECT count(*) FROM knowledge_chunks WHERE document_id = :d AND {column} IS NULL",  # noqa: S608
                        {"d": ref.document_id},
                    )
                ).scalar_one()
            )

    async def _publish(self, ref: DocumentRef, kind: EventType, data: dict[str, Any], *, dedup: bool = False) -> None:
        payload = {"collection_id": ref.collection_id, "document_id": ref.document_id, **data}
        key = f"{ref.document_id}:{kind}:{activity.info().workflow_run_id}" if dedup else None
        try:
            await self._bus.publish(ref.tenant_id, KNOWLEDGE_STREAM, kind, payload, dedup_key=key)
        except Exception:  # progress is a courtesy: a Redis hiccup must not fail the ingestion
            log.warning("knowledge.event_publish_failed", event_type=str(kind), document_id=ref.document_id)

    def all(self) -> list[Any]:
        return [self.parse, self.embed, self.finish]
