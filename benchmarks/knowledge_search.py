"""Knowledge search: quality of full text (`ts_rank_cd`), vectors and hybrid on a labelled set, latency at 100k
chunks in one tenant among others, and ingestion throughput, all on the embedded Postgres in one run.

Quality: the labelled set is built offline from the docstrings of Python's standard library: each public
function or class with a docstring of enough words gives a query (its first sentence) and its passage (the
rest of the docstring under the qualified name as heading). The passages are ingested into one collection
with the offline model; recall@10 and MRR@10 of the passage for its query, per search mode (text alone is
the baseline). A second set asks for identifiers: the same passages, each with a code of its own written in
("QX-40412", "E1042", "ORD-2093-KT"), the query that code alone or with a few generic words. Hybrid is shown
with the identifier rule off (every query at `w`) and on (`+ids`), on both sets in the same run.

Latency: `--chunks` chunks (100k) in one tenant plus `--others` in other tenants, synthetic text from the same
vocabulary and clustered 384-dimension vectors (embedding 100k real passages would take most of an hour on
two cores), HNSW built; p50/p95 of hybrid top-10 through the store (SQL only) and with the query embedded,
against vector-only and text-only in the same run.

Ingestion: pages per second of a generated 40-page PDF through parse, chunk and embed, against parse alone.

    python -m benchmarks knowledge-search [--chunks 100000] [--pairs 600] [--skip-latency]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import numpy as np

from benchmarks.knowledge_isolation import start_server
from benchmarks.knowledge_sets import APP_PASSWORD, Bench, identifier_pairs, labelled_pairs
from db.database import Database, run_sql
from db.migrate import migrate
from knowledge.chunking import chunk_sections
from knowledge.embeddings import OFFLINE_DIM, OfflineEmbedder
from knowledge.parsers import parse
from knowledge.pgvector_store import PgVectorStore
from knowledge.store import (
    BM25,
    BM25_INDEX,
    IDENTIFIER_TEXT_WEIGHT,
    TEXT_WEIGHT,
    TSVECTOR,
    ChunkRow,
    SearchQuery,
)

TEXT_INDEXES = (TSVECTOR, BM25)


def _ranks(found: list[str], expected: str) -> int | None:
    return found.index(expected) + 1 if expected in found else None


async def _labelled_collection(
    bench: Bench, label: str, labelled: list[tuple[str, str, str]]
) -> tuple[str, str, float]:
    """A tenant's collection of the passages (ord = index), embedded; returns the embedding rate too."""
    tenant_id, collection_id = await bench.tenant_with_collection(label)
    doc = await bench.document(tenant_id, collection_id, f"{label}.txt")
    rows = [
        ChunkRow(ord=i, text=passage, heading=heading, page=None) for i, (_q, heading, passage) in enumerate(labelled)
    ]
    await bench.store.replace_chunks(tenant_id, doc, collection_id, rows, groups=[], metadata={})
    started = time.perf_counter()
    texts = [f"{r.heading}\n{r.text}" for r in rows]
    vectors = np.concatenate([bench.embedder.embed_sync(texts[i : i + 32]) for i in range(0, len(texts), 32)])
    rate = len(texts) / (time.perf_counter() - started)
    await bench.store.set_embeddings(tenant_id, doc, {i: list(v) for i, v in enumerate(vectors)}, OFFLINE_DIM)
    return tenant_id, collection_id, rate


async def quality(bench: Bench, pairs: int, weights: list[float]) -> None:
    """Both labelled sets in one run: paraphrase queries (stdlib docstrings) and identifier queries (codes).

    Hybrid runs once with the identifier rule off (`identifier_weight=0`: every query fused at `w`, the fusion
    before the rule) and once at the default weight with it on (`+ids`, what the stores do)."""
    labelled = labelled_pairs(pairs)
    sets = (("paraphrase", labelled), ("identifier", identifier_pairs(labelled)))
    runs = [("vector", 1.0, TSVECTOR, 0.0)] + [
        (mode, weight, index, ids)
        for index in TEXT_INDEXES
        for mode, weight, ids in [("text", 1.0, 0.0)]
        + [("hybrid", w, 0.0) for w in weights]
        + [("hybrid", TEXT_WEIGHT, IDENTIFIER_TEXT_WEIGHT)]
    ]
    for name, pairs_ in sets:
        tenant_id, collection_id, rate = await _labelled_collection(bench, name, pairs_)
        queries = [q for q, _h, _p in pairs_]
        query_vectors = bench.embedder.embed_sync(queries)
        print(f"\nquality, {name} set: {len(pairs_)} stdlib docstring pairs, embedded at {rate:.0f} passages/s")
        print(f"  {'mode':<32} {'recall@10':>10} {'MRR@10':>8}")
        for mode, weight, index, ids in runs:
            store = PgVectorStore(bench.db.tenant_session, text_index=index)
            recall, rr = [], []
            for i, (query, vector) in enumerate(zip(queries, query_vectors, strict=True)):
                hits = await store.search(
                    tenant_id,
                    SearchQuery(collection_ids=[collection_id], text=query, vector=list(vector),
                                dimension=OFFLINE_DIM, top_k=10, mode=mode, text_weight=weight,
                                identifier_weight=ids),
                )  # fmt: skip
                rank = _ranks([str(h.ord) for h in hits], str(i))
                recall.append(1.0 if rank else 0.0)
                rr.append(1.0 / rank if rank else 0.0)
            label = f"hybrid w={weight}" + (" +ids" if ids else "") if mode == "hybrid" else mode
            label += f" ({index})" if mode != "vector" else ""
            print(f"  {label:<32} {statistics.mean(recall):>10.3f} {statistics.mean(rr):>8.3f}")


# Topics shared by every synthetic chunk and query, as real embeddings cluster by topic: queries drawn near
# the data, not from centers of their own (against which every chunk is about equally far and "nearest" is
# noise, which no index answers well).
_CENTERS = np.random.default_rng(3).normal(size=(300, OFFLINE_DIM)).astype(np.float32)


def _synthetic(
    rng: np.random.Generator, count: int, vocabulary: list[str], *, with_text: bool = True
) -> tuple[list[str], np.ndarray]:
    centers = _CENTERS
    vectors = centers[rng.integers(0, len(centers), count)] + 0.6 * rng.normal(size=(count, OFFLINE_DIM)).astype(
        np.float32
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [" ".join(rng.choice(vocabulary, size=60)) for _ in range(count)] if with_text else []
    return texts, vectors


async def _load_synthetic(bench: Bench, tenant_id: str, collection_id: str, count: int, rng: np.random.Generator,
                          vocabulary: list[str]) -> None:  # fmt: skip
    """COPY as the owner (the rows carry their tenant id; RLS is what the searches run under, not the load)."""
    per_doc = 1000
    words = np.array(vocabulary)
    connection = await asyncpg.connect(bench.admin_url)
    try:
        for start in range(0, count, per_doc):
            n = min(per_doc, count - start)
            _texts, vectors = _synthetic(rng, n, vocabulary, with_text=False)
            texts = [" ".join(row) for row in words[rng.integers(0, len(words), size=(n, 60))]]
            doc = await bench.document(tenant_id, collection_id, f"synthetic-{start}.txt")
            lines = io.StringIO()
            np.savetxt(lines, vectors, fmt="%.5f", delimiter=",")
            rows = "".join(
                f"{tenant_id}\t{doc}\t{i}\t{collection_id}\t{texts[i]}\t\t[{vector}]\t{OFFLINE_DIM}\n"
                for i, vector in enumerate(lines.getvalue().splitlines())
            )
            await connection.copy_to_table(
                "knowledge_chunks", source=io.BytesIO(rows.encode()),
                columns=["tenant_id", "document_id", "ord", "collection_id", "text", "heading", "embedding",
                         "embedding_dim"],
            )  # fmt: skip
    finally:
        await connection.close()


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"p50 {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms"


async def latency(bench: Bench, chunks: int, others: int, queries: int) -> None:
    rng = np.random.default_rng(9)
    vocabulary = sorted({w.lower() for _q, _h, p in labelled_pairs(2000) for w in re.findall(r"[A-Za-z]{4,}", p)})
    started = time.perf_counter()
    admin = Database(bench.admin_url, pool_size=1)
    # A bulk load builds the HNSW index once at the end, much faster than inserting into it row by row.
    async with admin.admin_session() as session:
        await run_sql(session, f"DROP INDEX ix_knowledge_chunks_hnsw_{OFFLINE_DIM}")
        bm25 = (await run_sql(session, f"SELECT pg_get_indexdef(to_regclass('{BM25_INDEX}'))")).scalar()
        if bm25:
            await run_sql(session, f"DROP INDEX {BM25_INDEX}")
    tenant_id, collection_id = await bench.tenant_with_collection("big")
    await _load_synthetic(bench, tenant_id, collection_id, chunks, rng, vocabulary)
    for n in range(10):
        other, other_collection = await bench.tenant_with_collection(f"other {n}")
        await _load_synthetic(bench, other, other_collection, others // 10, rng, vocabulary)
    loaded = time.perf_counter() - started
    async with admin.admin_session() as session:
        await run_sql(session, "SET LOCAL maintenance_work_mem = '1GB'")
        await run_sql(
            session,
            f"CREATE INDEX ix_knowledge_chunks_hnsw_{OFFLINE_DIM} ON knowledge_chunks USING hnsw"
            f" ((embedding::vector({OFFLINE_DIM})) vector_cosine_ops) WHERE embedding_dim = {OFFLINE_DIM}",
        )
        if bm25:
            await run_sql(session, bm25)
        await run_sql(session, "ANALYZE knowledge_chunks")
    await admin.close()
    print(f"\nlatency: {chunks} chunks in one tenant, {others} in 10 others; loaded in {loaded:.0f} s, HNSW built"
          f" in {time.perf_counter() - started - loaded:.0f} s")  # fmt: skip
    words = [" ".join(rng.choice(vocabulary, size=4)) for _ in range(queries)]
    _texts, query_vectors = _synthetic(rng, queries, vocabulary)
    # The same queries through both full-text lists, alternating query by query so that the machine's load
    # falls on both alike: `tsvector` (GIN, ts_rank_cd; the baseline) and BM25 from its top-k index.
    stores = {index: PgVectorStore(bench.db.tenant_session, text_index=index) for index in TEXT_INDEXES}
    for mode in ("text", "vector", "hybrid"):
        samples: dict[str, list[float]] = {index: [] for index in stores}
        for text, vector in zip(words, query_vectors, strict=True):
            for index, store in stores.items() if mode != "vector" else list(stores.items())[:1]:
                t0 = time.perf_counter()
                hits = await store.search(
                    tenant_id,
                    SearchQuery(collection_ids=[collection_id], text=text, vector=list(vector),
                                dimension=OFFLINE_DIM, top_k=10, mode=mode),
                )  # fmt: skip
                samples[index].append((time.perf_counter() - t0) * 1000)
                assert len(hits) == 10, (mode, index, len(hits))
        for index, measured in samples.items():
            if measured:
                label = f"{mode} ({index})" if mode != "vector" else mode
                print(f"  {label:<18} store only        {_percentiles(measured)}")
    samples = {index: [] for index in stores}
    for text in words:
        for index, store in stores.items():
            t0 = time.perf_counter()
            vector = bench.embedder.embed_sync([text])[0]
            await store.search(
                tenant_id,
                SearchQuery(collection_ids=[collection_id], text=text, vector=list(vector), dimension=OFFLINE_DIM),
            )
            samples[index].append((time.perf_counter() - t0) * 1000)
    for index, measured in samples.items():
        print(f"  {'hybrid (' + index + ')':<18} + query embedded  {_percentiles(measured)}")


def ingestion(pages: int) -> None:
    from tests.knowledge.documents import pdf

    labelled = labelled_pairs(pages * 4)
    content = pdf(["\n".join(p for _q, _h, p in labelled[i * 4 : i * 4 + 4])[:2400] for i in range(pages)])
    started = time.perf_counter()
    sections = parse(content, "application/pdf")
    parse_s = time.perf_counter() - started
    embedder = OfflineEmbedder(threads=2)
    chunks = chunk_sections(sections, count=embedder.count_tokens)
    for i in range(0, len(chunks), 32):
        embedder.embed_sync([c.text for c in chunks[i : i + 32]])
    total_s = time.perf_counter() - started
    print(f"\ningestion: a {pages}-page PDF, {len(chunks)} chunks")
    print(f"  parse alone (baseline)     {pages / parse_s:8.1f} pages/s")
    print(f"  parse + chunk + embed      {pages / total_s:8.1f} pages/s ({len(chunks) / total_s:.0f} chunks/s)")


async def run(args: argparse.Namespace, admin_url: str) -> None:
    await migrate(admin_url, APP_PASSWORD)
    app_url = re.sub(r"//postgres:[^@]*@", f"//aiaas_app:{APP_PASSWORD}@", admin_url)
    bench = Bench(admin_url, app_url)
    try:
        await quality(bench, args.pairs, args.text_weights)
        if not args.skip_latency:
            await latency(bench, args.chunks, args.others, args.queries)
    finally:
        await bench.db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks knowledge-search", description=__doc__)
    parser.add_argument("--pairs", type=int, default=600)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-ingestion", action="store_true")
    parser.add_argument("--text-weights", type=float, nargs="+", default=[1.0, 0.5, 0.3, 0.15])
    args = parser.parse_args(argv)
    if not args.skip_ingestion:
        ingestion(args.pages)
    with tempfile.TemporaryDirectory(prefix="aiaas-bench-kbs-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        server, url = start_server(root, "search", None)
        try:
            asyncio.run(run(args, url))
        finally:
            server.stop()
    return 0
