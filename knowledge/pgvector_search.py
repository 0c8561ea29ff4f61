"""The hybrid search of the pgvector store as SQL: its transaction-local planner settings and its statement.

Two candidate lists (vector distance, full text) are fused by reciprocal rank. The planner picks the scan: a
tenant's collection of a few thousand chunks is read through its btree and sorted exactly (complete by
construction); a large one goes through the HNSW index with pgvector's iterative scan, which keeps scanning
until the filters have yielded enough rows (`benchmarks/knowledge_isolation.py` measures both).

The full-text list is BM25 read in score order from `pg_textsearch`'s index where the server has it
(migration 0025; the embedded server does), and otherwise `tsvector` matches ranked by `ts_rank_cd`. The index
returns a ranked top-k and, like the iterative HNSW scan, keeps going until the filters let enough rows
through; GIN can only find matches, every one of which then had to be ranked (`benchmarks/knowledge_search.py`
measures both lists in one run).
"""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.store import (
    BM25,
    BM25_INDEX,
    CANDIDATES,
    MAX_TEXT_MATCHES,
    RRF_K,
    TSVECTOR,
    SearchQuery,
    fused_text_weight,
    slot_columns,
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


def search_settings(*, iterative: bool) -> str:
    """The statement setting a search's transaction-local planner options (the iterative scan where offered)."""
    return _set_local((*_PLANNER, *(_ITERATIVE if iterative else ())))
