"""Knowledge ingestion contracts: what `IngestDocumentWorkflow` and its activities exchange.

Only ids and counts travel: the document's bytes, text and vectors stay in Postgres and are read by id, so a
history never holds a tenant's document. Imports nothing with side effects (the workflow sandbox loads it).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from temporalio.common import RetryPolicy

from contracts.base import Frozen

# The stream knowledge events go to: one per tenant, beside its conversations' streams.
KNOWLEDGE_STREAM = "knowledge"
EMBED_BATCH = 32
# Chunks one embedding activity handles before it reports back, so progress shows in the history too.
EMBED_WINDOW = 256

PARSE_TIMEOUT = timedelta(minutes=5)
EMBED_TIMEOUT = timedelta(minutes=10)
EMBED_HEARTBEAT = timedelta(seconds=60)
FINISH_TIMEOUT = timedelta(seconds=30)


class KnowledgeErrorType(StrEnum):
    # The file cannot be read as its type (corrupt, encrypted, empty): no retry changes that.
    DOCUMENT_UNREADABLE = "DocumentUnreadable"
    # The document or its collection was deleted while it was being ingested.
    DOCUMENT_GONE = "DocumentGone"


NON_RETRYABLE_KNOWLEDGE_ERRORS: tuple[KnowledgeErrorType, ...] = tuple(KnowledgeErrorType)

INGEST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=[str(t) for t in NON_RETRYABLE_KNOWLEDGE_ERRORS],
)


class DocumentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class IngestDocumentInput(Frozen):
    tenant_id: str
    collection_id: str
    document_id: str


class DocumentRef(Frozen):
    tenant_id: str
    collection_id: str
    document_id: str


class ParseResult(Frozen):
    pages: int
    chunks: int


class EmbedResult(Frozen):
    embedded: int
    remaining: int


class FinishInput(Frozen):
    tenant_id: str
    collection_id: str
    document_id: str
    status: DocumentStatus
    reason: str = ""
    chunks: int = 0


class IngestDocumentResult(Frozen):
    document_id: str
    status: str
    chunks: int = 0
    reason: str = ""
