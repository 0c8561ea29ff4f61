"""`WeaviateStore`: the `KnowledgeStore` whose search runs in Weaviate, with Postgres kept as the record.

Weaviate *mirrors* chunks; it does not hold them alone. `knowledge_chunks` stays the record of every chunk and
both its vectors (ingestion and re-embeds resume from it, erasure and the schema checks read it, and a lost
Weaviate is rebuilt from it); Weaviate holds a search copy of each embedded chunk per slot. Keeping the two in
step:
- writes go to Weaviate inside the record's transaction, before it commits (`mirror_vectors`): if Weaviate
  refuses, the record rolls back and the activity retries, so no chunk is marked embedded without its copy;
  object ids are deterministic, so a retry overwrites;
- purges (re-parse, document and collection deletes, erasure, a re-embed's old slot) delete in Weaviate inside
  the transaction that deletes the record (`purge`), so a delete answered 204 is gone from both; an ingestion
  writing the same document concurrently is ordered by the record's row locks (its write commits before the
  delete's purge runs, or finds no row after it);
- searches are checked against the record: a hit whose chunk (or its vector in that slot) is no longer in
  Postgres is dropped, so a copy left behind by a crash between the two is never served; document names come
  from Postgres.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from knowledge.pgvector_store import PgVectorStore
from knowledge.store import Passage, Purge, SearchQuery, slot_columns
from knowledge.weaviate_index import WeaviateIndex
from knowledge.weaviate_schema import ChunkObject, purge_filter


class WeaviateStore(PgVectorStore):
    def __init__(self, sessions: Any, index: WeaviateIndex) -> None:
        super().__init__(sessions)
        self._index = index

    async def mirror_vectors(
        self, session: AsyncSession, tenant_id: str, slot: int, keys: Sequence[tuple[str, int]]
    ) -> None:
        if not keys:
            return
        column, dim_column = slot_columns(slot)
        rows = await run_sql(
            session,
            f"SELECT c.document_id, c.collection_id, c.ord, c.text, c.heading, c.page, c.groups, c.metadata,"  # noqa: S608
            f" CAST(c.{column} AS text) AS vector, c.{dim_column} AS dim FROM knowledge_chunks c"
            " JOIN unnest(CAST(:docs AS text[]), CAST(:ords AS int[])) AS k(doc, ord)"
            f" ON c.document_id = k.doc AND c.ord = k.ord WHERE c.{column} IS NOT NULL",
            {"docs": [d for d, _o in keys], "ords": [int(o) for _d, o in keys]},
        )
        by_dimension: dict[int, list[ChunkObject]] = {}
        for r in rows:
            metadata = r.metadata if isinstance(r.metadata, dict) else json.loads(r.metadata or "{}")
            by_dimension.setdefault(int(r.dim), []).append(
                ChunkObject(
                    tenant_id=tenant_id, document_id=r.document_id, collection_id=r.collection_id, ord=int(r.ord),
                    slot=int(slot), text=r.text, heading=r.heading, page=r.page, groups=list(r.groups or ()),
                    metadata=metadata, vector=json.loads(r.vector),
                )
            )  # fmt: skip
        for dimension, objects in by_dimension.items():
            await self._index.write(tenant_id, dimension, objects)

    async def _purge_index(self, session: AsyncSession, tenant_id: str, target: Purge) -> None:
        if target.slot is not None:
            reading = (
                await run_sql(
                    session,
                    "SELECT embedding_slot FROM knowledge_collections WHERE id = :c",
                    {"c": target.collection_id},
                )
            ).first()
            if reading is not None and int(reading.embedding_slot) == int(target.slot):
                return  # never the slot the collection reads (the record refuses it as well)
        await self._index.delete(tenant_id, purge_filter(target))

    async def search(self, tenant_id: str, query: SearchQuery) -> list[Passage]:
        if not query.collection_ids:
            return []
        hits = await self._index.query(tenant_id, query)
        if not hits:
            return []
        column, _dim = slot_columns(query.slot)
        async with self._sessions(tenant_id) as session:
            rows = await run_sql(
                session,
                f"SELECT c.document_id, d.filename, c.ord, c.page, c.heading, c.text FROM knowledge_chunks c"  # noqa: S608
                " JOIN knowledge_documents d ON d.tenant_id = c.tenant_id AND d.id = c.document_id"
                " JOIN unnest(CAST(:docs AS text[]), CAST(:ords AS int[])) AS k(doc, ord)"
                f" ON c.document_id = k.doc AND c.ord = k.ord WHERE c.tenant_id = :tenant AND c.{column} IS NOT NULL",
                {"tenant": tenant_id, "docs": [d for d, _o, _s in hits], "ords": [o for _d, o, _s in hits]},
            )
            record = {(r.document_id, int(r.ord)): r for r in rows}
        passages = [
            Passage(
                document_id=doc, filename=r.filename, ord=ord_, page=r.page, heading=r.heading, text=r.text, score=score
            )
            for doc, ord_, score in hits
            if (r := record.get((doc, ord_))) is not None
        ]
        passages.sort(key=lambda p: (-p.score, p.document_id, p.ord))
        return passages[: query.top_k]
