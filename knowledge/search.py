"""Search across a tenant's collections: embed the query once per model, search each collection group in
the store, merge, and let an optional reranker reorder the candidates.

Collections with different embedding models cannot share one vector query, so collections are grouped by
model; the merged list keeps each group's fused scores (reciprocal-rank scores are comparable across lists).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from knowledge import catalog
from knowledge.backends import store_for
from knowledge.embeddings import embedder_for
from knowledge.metrics import SEARCH_SECONDS
from knowledge.store import KnowledgeStore, Passage, SearchQuery

MAX_TOP_K = 50


class Reranker(Protocol):
    """Reorders candidates for a query (a cross-encoder, a hosted rerank API); returns at most `top_k`."""

    async def rerank(self, query: str, passages: list[Passage], top_k: int) -> list[Passage]: ...


class KeepOrder:
    """The default: the fused order as it is."""

    async def rerank(self, query: str, passages: list[Passage], top_k: int) -> list[Passage]:
        return passages[:top_k]


class Sessions(Protocol):
    """Opens a transaction bound to a tenant (`Database.tenant_session`)."""

    def __call__(self, tenant_id: str, /) -> AbstractAsyncContextManager[AsyncSession]: ...


async def search_collections(
    sessions: Sessions,
    tenant_id: str,
    query: str,
    *,
    collection_ids: Sequence[str] | None = None,
    groups: Sequence[str] = (),
    metadata: dict[str, Any] | None = None,
    top_k: int = 10,
    mode: str = "hybrid",
    store: KnowledgeStore | None = None,
    reranker: Reranker | None = None,
) -> list[Passage]:
    started = time.perf_counter()
    top_k = max(1, min(top_k, MAX_TOP_K))
    async with sessions(tenant_id) as session:
        collections = await catalog.searchable_collections(session, collection_ids)
    # A collection being re-embedded keeps reading its current model's slot until the re-embed switches it.
    by_model: dict[tuple[str, int, int], list[str]] = {}
    for c in collections:
        by_model.setdefault((c.embedding_model, c.embedding_dim, c.embedding_slot), []).append(c.id)
    store = store or store_for(sessions)
    merged: list[Passage] = []
    for (model, dim, slot), ids in by_model.items():
        vector = None
        if mode in ("hybrid", "vector"):
            vector = (await embedder_for(model).embed([query]))[0]
        merged += await store.search(
            tenant_id,
            SearchQuery(
                collection_ids=ids, text=query, vector=vector, dimension=dim, top_k=top_k, groups=tuple(groups),
                metadata=dict(metadata or {}), mode=mode, slot=slot,
            ),
        )  # fmt: skip
    merged.sort(key=lambda p: (-p.score, p.document_id, p.ord))
    result = await (reranker or KeepOrder()).rerank(query, merged, top_k)
    SEARCH_SECONDS.labels(mode=mode).observe(time.perf_counter() - started)
    return result
