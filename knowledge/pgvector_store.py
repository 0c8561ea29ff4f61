"""The pgvector store: chunk upserts, purges and hybrid search in the platform's Postgres (the default store).

Search is one SQL statement inside the tenant's transaction, so row-level security, the collection, the
caller's visibility groups and metadata filters are all conditions of the scans themselves. Two candidate
lists (vector distance, full text) are fused by reciprocal rank. The planner picks the scan: a tenant's
collection of a few thousand chunks is read through its btree and sorted exactly (complete by
construction); a large one goes through the HNSW index with pgvector's iterative scan, which keeps scanning
until the filters have yielded enough rows (`benchmarks/knowledge_isolation.py` measures both).

The full-text list is BM25 read in score order from `pg_textsearch`'s index where the server has it
(migration 0025; the embedded server does), and otherwise `tsvector` matches ranked by `ts_rank_cd`. The index
returns a ranked top-k and, like the iterative HNSW scan, keeps going until the filters let enough rows
through; GIN can only find matches, every one of which then had to be ranked (`benchmarks/knowledge_search.py`
measures both lists in one run).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from knowledge.store import (
    BM25,
    BM25_INDEX,
    CANDIDATES,
    MAX_TEXT_MATCHES,
    RRF_K,
    TSVECTOR,
    ChunkRow,
    Passage,
    Purge,
    SearchQuery,
    fused_text_weight,
    slot_columns,
    vector_literal,
)

# pgvector >= 0.8: keep an HNSW scan going until the filters have passed enough rows; relaxed order is
# re-sorted by exact distance below. ef_search 200 measured recall@10 >= 0.95 under per-tenant filters.
_ITERATIVE = (
    ("hnsw.iterative_scan", "relaxed_order"),
    ("hnsw.ef_search", "200"),
    ("hnsw.max_scan_tuples", "100000"),
)
# A generic plan would estimate the tenant and the collections without their values (the 100k-chunk tenant
# as 1/n of the table) and could fall back to an exact sort; plan each search with its values.
_PLANNER = (("plan_cache_mode", "force_custom_plan"),)


def _set_local(settings: Sequence[tuple[str, str]]) -> str:
    """One round trip for every transaction-local setting (names and values are constants of this module)."""
    return "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)" for name, value in settings)


def _filters(query: SearchQuery) -> str:
    # Written so the planner can estimate them from column statistics: `groups = '{}'` (not
    # `cardinality(groups) = 0`, a 0.5% default guess) and the tenant as a value, not only RLS's
    # `current_setting()` (a 1/n_tenants guess). Misestimated as a handful of rows, a 100k-chunk collection
    # was sorted exactly instead of read through HNSW. RLS still applies on top of the explicit tenant.
    column, _dim = slot_columns(query.slot)
    where = (
        f"c.tenant_id = :tenant AND c.collection_id = ANY(CAST(:collections AS text[])) AND c.{column} IS NOT NULL"
        " AND (c.groups = '{}' OR c.groups && CAST(:groups AS text[]))"
    )
    return where + (" AND c.metadata @> CAST(:metadata AS jsonb)" if query.metadata else "")


_COLUMNS = "c.document_id, c.ord, c.page, c.heading, c.text"


def _tsvector_list(where: str) -> str:
    """Any of the question's words, ranked by cover density: a question rarely contains every word of its answer.

    GIN finds the matches but cannot rank them: ranking every match of an any-word query is what made full
    text slow on 100k chunks (p50 563 ms), so only the first MAX_TEXT_MATCHES matches are ranked (2000 -> 1000
    took the list's p50 from ~30 to ~19 ms at 100k chunks); below that (most collections) nothing changes.
    The best CANDIDATES by a top-N sort first, numbered after: numbering all the matches sorted them all.
    """
    tsquery = "(SELECT CAST(replace(CAST(plainto_tsquery('english', :text) AS text), '&', '|') AS tsquery) AS q) query"
    return (
        f"SELECT t.*, row_number() OVER (ORDER BY rank DESC, ord) AS r FROM ("  # noqa: S608
        f"SELECT * FROM (SELECT {_COLUMNS}, ts_rank_cd(c.tsv, q) AS rank"
        f" FROM knowledge_chunks c CROSS JOIN {tsquery} WHERE {where} AND c.tsv @@ q LIMIT {MAX_TEXT_MATCHES}) m"
        f" ORDER BY rank DESC, ord LIMIT {CANDIDATES}) t"
    )


def _bm25_list(where: str) -> str:
    """The best CANDIDATES by BM25, read in score order from `ix_knowledge_chunks_bm25` (migration 0025).

    The index scan keeps going until the filters (tenant, collection, groups, metadata) have let CANDIDATES
    rows through, so the list is complete under them; a small collection is read through its btree and its
    rows scored one by one instead (the planner's choice, as for vectors). `<@>` is the negated BM25 score
    (lower is better); rows without any of the words score 0 and are dropped.
    """
    bm25 = f"c.search_text <@> to_bm25query(:text, '{BM25_INDEX}')"
    return (
        f"SELECT m.*, row_number() OVER (ORDER BY rank, ord) AS r FROM ("  # noqa: S608
        f"SELECT {_COLUMNS}, {bm25} AS rank FROM knowledge_chunks c WHERE {where}"
        f" ORDER BY {bm25} LIMIT {CANDIDATES}) m WHERE m.rank < 0"
    )


def search_sql(query: SearchQuery, text_index: str = TSVECTOR) -> str:
    """The hybrid query; only integers are formatted in, every value is a bound parameter.

    `text_index` picks the full-text list: BM25 from its top-k index (`BM25`) or `tsvector` (`TSVECTOR`).

    Each candidate list carries its chunks' columns, so nothing joins back to the chunk table afterwards. The
    full-text weight is the query's (`fused_text_weight`): raised when it names an identifier.
    """
    dim = int(query.dimension)
    weight = fused_text_weight(query.text, query.text_weight, query.identifier_weight)
    where = _filters(query)
    column, dim_column = slot_columns(query.slot)
    distance = f"c.{column}::vector({dim}) <=> CAST(:vector AS vector({dim}))"
    vector = (
        f"SELECT v.*, row_number() OVER (ORDER BY d) AS r FROM ("  # noqa: S608
        f"SELECT {_COLUMNS}, {distance} AS d FROM knowledge_chunks c"
        f" WHERE {where} AND c.{dim_column} = {dim} ORDER BY {distance} LIMIT {CANDIDATES}) v"
    )
    text = _bm25_list(where) if text_index == BM25 else _tsvector_list(where)
    empty = (
        "SELECT NULL::text AS document_id, NULL::int AS ord, NULL::int AS page, NULL::text AS heading,"
        " NULL::text AS text, NULL::float8 AS d, NULL::bigint AS r WHERE false"
    )
    vec_cte = vector if query.mode in ("hybrid", "vector") and query.vector is not None else empty
    text_cte = text if query.mode in ("hybrid", "text") else empty.replace("NULL::float8 AS d, ", "")
    pick = "coalesce(vec.{0}, fts.{0}) AS {0}".format
    return (
        f"WITH vec AS MATERIALIZED ({vec_cte}), fts AS MATERIALIZED ({text_cte}),"  # noqa: S608
        f" fused AS (SELECT {', '.join(pick(n) for n in ('document_id', 'ord', 'page', 'heading', 'text'))},"
        f" coalesce(1.0 / ({RRF_K} + vec.r), 0) + coalesce({weight!r} / ({RRF_K} + fts.r), 0) AS score"
        f" FROM vec FULL OUTER JOIN fts ON vec.document_id = fts.document_id AND vec.ord = fts.ord)"
        f" SELECT f.document_id, d.filename, f.ord, f.page, f.heading, f.text, f.score FROM fused f"
        f" JOIN knowledge_documents d ON d.tenant_id = :tenant AND d.id = f.document_id"
        f" ORDER BY f.score DESC, f.document_id, f.ord LIMIT :top_k"
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
            await run_sql(session, _set_local((*_PLANNER, *(_ITERATIVE if found.iterative else ()))))
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
