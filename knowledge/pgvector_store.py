"""The pgvector store: chunk upserts, purges and hybrid search in the platform's Postgres (the default store).

Search is one SQL statement inside the tenant's transaction (`knowledge.pgvector_search`: two candidate lists,
vector distance and full text, fused by reciprocal rank), so row-level security, the collection, the caller's
visibility groups and metadata filters are all conditions of the scans themselves. Which full-text list a
search uses depends on what the server offers (`capabilities`, read once per database).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from knowledge.pgvector_search import search_settings, search_sql
from knowledge.store import (
    BM25,
    BM25_INDEX,
    TSVECTOR,
    ChunkRow,
    Passage,
    Purge,
    SearchQuery,
    slot_columns,
    vector_literal,
)


@dataclass(frozen=True)
class Capabilities:
    """What the server offers search, read once per database: pgvector's iterative scan and the BM25 index."""

    iterative: bool
    bm25: bool


_CAPABILITIES: weakref.WeakKeyDictionary[Any, Capabilities] = weakref.WeakKeyDictionary()
_CAPABILITIES_SQL = (
    "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS vector,"  # noqa: S608
    f" to_regclass('{BM25_INDEX}') IS NOT NULL AS bm25"
)


async def capabilities(sessions: Any, session: AsyncSession) -> Capabilities:
    """Read once per database object behind `sessions` (a bound `Database.tenant_session`), so a store made per
    search does not ask again; a migration that adds the index is seen by the next process."""
    owner = getattr(sessions, "__self__", sessions)
    found = _CAPABILITIES.get(owner)
    if found is None:
        row = (await run_sql(session, _CAPABILITIES_SQL)).one()
        # A managed Postgres with pgvector < 0.8 lacks the iterative scan; the planner's exact path still applies.
        major, minor = (int(p) for p in str(row.vector or "0.0").split(".")[:2])
        found = Capabilities(iterative=(major, minor) >= (0, 8), bm25=bool(row.bm25))
        _CAPABILITIES[owner] = found
    return found


class PgVectorStore:
    """The default store: Postgres with pgvector, under the tenant's row-level security."""

    def __init__(self, sessions: Any, *, text_index: str | None = None) -> None:
        # `sessions(tenant_id)` opens a tenant-bound transaction (db.database.Database.tenant_session).
        self._sessions = sessions
        # None: BM25 where migration 0025 could create its index, else `tsvector`; a benchmark may force either.
        self._text_index = text_index

    async def replace_chunks(
        self, tenant_id: str, document_id: str, collection_id: str, chunks: Sequence[ChunkRow], *,
        groups: Sequence[str], metadata: dict[str, Any],
    ) -> None:  # fmt: skip
        async with self._sessions(tenant_id) as session:
            # A re-embed switches the collection's model under an exclusive lock of its row and only when no chunk
            # lacks a new vector: holding a share lock here means new chunks are either seen by that check or
            # written after the switch (and then embedded by the new model).
            await run_sql(session, "SELECT 1 FROM knowledge_collections WHERE id = :c FOR SHARE", {"c": collection_id})
            await run_sql(session, "DELETE FROM knowledge_chunks WHERE document_id = :d", {"d": document_id})
            await self._purge_index(session, tenant_id, Purge(document_ids=(document_id,)))
            if not chunks:
                return
            await (await session.connection()).exec_driver_sql(
                "INSERT INTO knowledge_chunks (tenant_id, document_id, ord, collection_id, text, heading, page,"
                " groups, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
                [
                    (tenant_id, document_id, c.ord, collection_id, c.text, c.heading, c.page, list(groups),
                     json.dumps(metadata))
                    for c in chunks
                ],
            )  # fmt: skip

    async def set_embeddings(
        self, tenant_id: str, document_id: str, vectors: dict[int, Sequence[float]], dimension: int, *,
        slot: int = 0, model: str | None = None,
    ) -> int:  # fmt: skip
        """Writes `vectors` into `slot`; returns how many chunks took one. With `model`, only while the chunk's
        collection still reads `slot` with `model`: vectors computed just before a re-embed switched the
        collection are refused (0), not left in the slot being purged."""
        if not vectors:
            return 0
        column, dim_column = slot_columns(slot)
        ords = list(vectors)
        params: dict[str, Any] = {
            "d": document_id, "dim": dimension, "ords": ords, "vectors": [vector_literal(vectors[o]) for o in ords],
        }  # fmt: skip
        guard = ""
        if model is not None:
            guard = (
                " AND EXISTS (SELECT 1 FROM knowledge_collections k WHERE k.tenant_id = c.tenant_id"
                " AND k.id = c.collection_id AND k.embedding_slot = :slot AND k.embedding_model = :model)"
            )
            params.update(slot=slot, model=model)
        async with self._sessions(tenant_id) as session:
            written = (
                await run_sql(
                    session,
                    f"UPDATE knowledge_chunks c SET {column} = CAST(v.e AS vector), {dim_column} = :dim"  # noqa: S608
                    " FROM unnest(CAST(:ords AS int[]), CAST(:vectors AS text[])) AS v(ord, e)"
                    f" WHERE c.document_id = :d AND c.ord = v.ord{guard} RETURNING c.ord",
                    params,
                )
            ).all()
            if written:
                await self.mirror_vectors(session, tenant_id, slot, [(document_id, int(r.ord)) for r in written])
            return len(written)

    async def search(self, tenant_id: str, query: SearchQuery) -> list[Passage]:
        async with self._sessions(tenant_id) as session:
            found = await capabilities(self._sessions, session)
            await run_sql(session, search_settings(iterative=found.iterative))
            text_index = self._text_index or (BM25 if found.bm25 else TSVECTOR)
            rows = await run_sql(
                session,
                search_sql(query, text_index),
                {
                    "tenant": tenant_id,
                    "collections": list(query.collection_ids),
                    "groups": list(query.groups),
                    "metadata": json.dumps(query.metadata),
                    "vector": vector_literal(query.vector) if query.vector is not None else None,
                    "text": query.text,
                    "top_k": query.top_k,
                },
            )
            return [
                Passage(
                    document_id=r.document_id, filename=r.filename, ord=r.ord, page=r.page, heading=r.heading,
                    text=r.text, score=float(r.score),
                )
                for r in rows
            ]  # fmt: skip

    async def mirror_vectors(
        self, session: AsyncSession, tenant_id: str, slot: int, keys: Sequence[tuple[str, int]]
    ) -> None:
        """Nothing to do: Postgres is both the record and the index here."""
        return None

    async def purge(self, tenant_id: str, target: Purge, *, session: AsyncSession | None = None) -> int:
        if session is None:
            async with self._sessions(tenant_id) as own:
                return await self.purge(tenant_id, target, session=own)
        conditions: list[str] = ["tenant_id = :tenant"]
        params: dict[str, Any] = {"tenant": tenant_id}
        if target.document_ids:
            conditions.append("document_id = ANY(CAST(:docs AS text[]))")
            params["docs"] = list(target.document_ids)
        if target.collection_id is not None:
            conditions.append("collection_id = :c")
            params["c"] = target.collection_id
        if target.metadata:
            conditions.append("metadata @> CAST(:metadata AS jsonb)")
            params["metadata"] = json.dumps(target.metadata)
        where = " AND ".join(conditions)
        if target.slot is None:
            sql = f"DELETE FROM knowledge_chunks WHERE {where}"  # noqa: S608
        else:
            column, dim_column = slot_columns(target.slot)
            params["slot"] = int(target.slot)
            sql = (
                f"UPDATE knowledge_chunks SET {column} = NULL, {dim_column} = NULL WHERE {where}"  # noqa: S608
                f" AND {column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM knowledge_collections k"
                " WHERE k.id = :c AND k.embedding_slot = :slot)"
            )
        changed = int((await run_sql(session, sql, params)).rowcount)  # type: ignore[attr-defined]
        await self._purge_index(session, tenant_id, target)
        return changed

    async def _purge_index(self, session: AsyncSession, tenant_id: str, target: Purge) -> None:
        """A store with a separate search index forgets `target` there (called inside the record's transaction)."""
        return None
