"""The knowledge store interface: chunks, their two vector slots, purges and the search query every store answers.

Postgres (`knowledge_chunks`) is the record in every store. `knowledge.pgvector_store` searches it in place (the
default); `knowledge.weaviate_store` keeps a search copy in Weaviate in step with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

RRF_K = 60
BM25 = "bm25"
TSVECTOR = "tsvector"
BM25_INDEX = "ix_knowledge_chunks_bm25"
TEXT_WEIGHT = 0.15
CANDIDATES = 50
MAX_TEXT_MATCHES = 1000
# The full-text weight of a query naming an identifier (a product, order or error code): the text list leads and the
# vectors, whose model cannot tell "QX-4411" from "QX-4412", only break its near-ties. At 2 a chunk high in both lists
# still outranked the coded one (identifier set, BM25: recall@10 0.82); at 10, 0.99 (benchmarks/knowledge_search.py).
IDENTIFIER_TEXT_WEIGHT = 10.0
_WORD = re.compile(r"[\w-]+")
_DIGIT_GROUPS = re.compile(r"\d+(?:[-_]\d+)+")
_DIGIT_RUN = re.compile(r"\d{3}")


def _is_identifier(word: str) -> bool:
    """A letter followed by digits with a run of 3+ of them or a later capital ("QX-4411", "E1042", "RFC2822",
    "A7B"), or digit groups joined by `-`/`_` ("2024-0117"); "base64", "Base64", "utf-8" or "python3" stay words."""
    if _DIGIT_GROUPS.fullmatch(word):
        return True
    if not word[0].isalpha() or not any(ch.isdigit() for ch in word):
        return False
    return _DIGIT_RUN.search(word) is not None or any(ch.isupper() for ch in word[1:])


def has_identifier(text: str) -> bool:
    """Whether the query names something by code, which embeddings do not understand and exact full text does."""
    return any(_is_identifier(word) for word in _WORD.findall(text))


def fused_text_weight(text: str, weight: float, identifier_weight: float = IDENTIFIER_TEXT_WEIGHT) -> float:
    """The full-text list's weight for this query in every store: `identifier_weight` (if larger) when the query
    names an identifier, the collection-wide `weight` otherwise (paraphrase queries, where vectors lead)."""
    return max(float(weight), float(identifier_weight)) if has_identifier(text) else float(weight)


# A chunk's two vector slots (migration 0031): a collection reads one (`knowledge_collections.embedding_slot`)
# while a re-embed fills the other with the new model; then the collection switches slots in one row update.
SLOT_COLUMNS = {0: ("embedding", "embedding_dim"), 1: ("embedding_alt", "embedding_alt_dim")}


def slot_columns(slot: int) -> tuple[str, str]:
    """The vector and dimension columns of `slot` (only these constants are ever formatted into SQL)."""
    return SLOT_COLUMNS[int(slot)]


@dataclass(frozen=True)
class ChunkRow:
    ord: int
    text: str
    heading: str
    page: int | None


@dataclass(frozen=True)
class SearchQuery:
    collection_ids: Sequence[str]
    text: str
    vector: Sequence[float] | None
    dimension: int
    top_k: int = 10
    # The caller's visibility groups: a chunk with groups is seen only by a caller sharing one of them.
    groups: Sequence[str] = ()
    # Metadata every returned chunk's document must contain (JSON containment).
    metadata: dict[str, Any] = field(default_factory=dict)
    mode: str = "hybrid"  # hybrid | vector | text
    # The full-text list's weight in the fusion (the vector list's is 1): measured on the labelled set of
    # benchmarks/knowledge_search.py, where plain full text is much weaker than the vectors.
    text_weight: float = TEXT_WEIGHT
    # The weight when the query names an identifier (`fused_text_weight`); 0 keeps `text_weight` for every query.
    identifier_weight: float = IDENTIFIER_TEXT_WEIGHT
    # Which of the chunk's vector slots the collections read (their `embedding_slot`).
    slot: int = 0


@dataclass(frozen=True)
class Passage:
    document_id: str
    filename: str
    ord: int
    page: int | None
    heading: str
    text: str
    score: float


class IndexUnavailable(RuntimeError):
    """A separate search index (Weaviate) did not answer or refused a write: the record's transaction rolls back."""


class WeaviateUnavailable(IndexUnavailable):
    """WEAVIATE_URL is set but no Weaviate answers there, or its client is not installed: the process does not
    start (it never silently searches another store than the one ingestion writes to)."""


@dataclass(frozen=True)
class Purge:
    """Chunks to forget: of these documents, of a collection, or whose document's metadata contains `metadata`
    (erasure: `{"customer_id": ...}`), conditions combined with AND. With `slot` (and a collection), only the
    vectors of that slot go, and never while the collection reads it (a re-embed's old or abandoned generation)."""

    document_ids: tuple[str, ...] = ()
    collection_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    slot: int | None = None

    def __post_init__(self) -> None:
        if not (self.document_ids or self.collection_id or self.metadata):
            raise ValueError("a purge names documents, a collection or metadata")
        if self.slot is not None and self.collection_id is None:
            raise ValueError("a slot purge names its collection")


class KnowledgeStore(Protocol):
    """Chunks and their vectors per tenant. Postgres (`knowledge_chunks`) is the record in every store; a store
    with a separate search index keeps it in step inside the record's transactions (`mirror_vectors`, `purge`)."""

    async def replace_chunks(
        self, tenant_id: str, document_id: str, collection_id: str, chunks: Sequence[ChunkRow], *,
        groups: Sequence[str], metadata: dict[str, Any],
    ) -> None: ...  # fmt: skip

    async def set_embeddings(
        self, tenant_id: str, document_id: str, vectors: dict[int, Sequence[float]], dimension: int, *,
        slot: int = 0, model: str | None = None,
    ) -> int: ...  # fmt: skip

    async def search(self, tenant_id: str, query: SearchQuery) -> list[Passage]: ...

    async def mirror_vectors(
        self, session: AsyncSession, tenant_id: str, slot: int, keys: Sequence[tuple[str, int]]
    ) -> None:
        """Brings the search index up to date with vectors the record got in `session`'s open transaction
        ((document, ord) pairs in `slot`), before it commits: a failure rolls the record back and is retried."""
        ...

    async def purge(self, tenant_id: str, target: Purge, *, session: AsyncSession | None = None) -> int:
        """Forgets `target` in the record and the search index; in `session`'s transaction when given (the caller's
        own delete, whose row locks a second connection would wait on). Returns the record's rows changed."""
        ...


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"
