"""Completeness of per-tenant top-10 vector search under row-level security, per Postgres build and strategy.

Each tenant sees only its rows (an RLS policy on `app.tenant_id`, as every tenant table here); a query asks
for its tenant's 10 nearest chunks, some with a visibility-group filter too. An HNSW index that filters
after the scan returns fewer than 10 rows when the tenant's rows are a small share of the index; pgvector
0.8's iterative scans keep scanning until the filter is satisfied. Measured per strategy, in the same run:
  - rows returned per query (goal 10), recall@10 against exact search (numpy over the tenant's own rows),
  - rows of another tenant or of a group the user lacks (goal 0), p50 latency.
The anchor is the old embedded build (PostgreSQL 16 + pgvector 0.6.2) when its binaries are given
(`--anchor-bin DIR` or AIAAS_BENCH_PG16_BIN: `pip install --no-deps --target T pgserver==0.1.4` gives
T/pgserver/pginstall/bin), started the same way on the same data.

    python -m benchmarks knowledge-isolation --tenants 100 1000 --rows 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import numpy as np

from core.stack.ports import free_port
from core.stack.postgres import EmbeddedPostgres

DIM = 384
TOP_K = 10
GROUPS = ("public", "staff", "vip")
USER_GROUPS = ["public", "staff"]
APP_ROLE = "bench_app"
APP_PASSWORD = "bench-app-password"


@dataclass(frozen=True)
class Strategy:
    name: str
    settings: tuple[str, ...]
    exact: bool = False
    min_pgvector: tuple[int, int] = (0, 0)


# A sort penalty makes the planner take the HNSW index even where the tenant's few rows would be cheaper to
# sort exactly: what it does anyway once a tenant is large (see `plan` in the output for its own choice).
_HNSW = ("SET LOCAL enable_sort = off",)
_ITERATIVE = ("SET LOCAL hnsw.max_scan_tuples = 100000",)
STRATEGIES = (
    Strategy("planner's choice", ()),
    Strategy("hnsw, filter after scan", _HNSW),
    Strategy("hnsw, ef_search=400", (*_HNSW, "SET LOCAL hnsw.ef_search = 400")),
    Strategy(
        "hnsw, iterative relaxed_order",
        (*_HNSW, *_ITERATIVE, "SET LOCAL hnsw.iterative_scan = relaxed_order"),
        min_pgvector=(0, 8),
    ),
    Strategy(
        "hnsw, iterative relaxed, ef=200",
        (*_HNSW, *_ITERATIVE, "SET LOCAL hnsw.iterative_scan = relaxed_order", "SET LOCAL hnsw.ef_search = 200"),
        min_pgvector=(0, 8),
    ),
    Strategy(
        "hnsw, iterative relaxed, ef=100",
        (*_HNSW, *_ITERATIVE, "SET LOCAL hnsw.iterative_scan = relaxed_order", "SET LOCAL hnsw.ef_search = 100"),
        min_pgvector=(0, 8),
    ),
    Strategy(
        "hnsw, iterative strict_order",
        (*_HNSW, *_ITERATIVE, "SET LOCAL hnsw.iterative_scan = strict_order"),
        min_pgvector=(0, 8),
    ),
    Strategy("exact (tenant index, no hnsw)", (), exact=True),
)


def make_data(rows: int, tenants: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered unit vectors (embeddings cluster by topic), tenants spread over every cluster."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(200, DIM)).astype(np.float32)
    vectors = centers[rng.integers(0, len(centers), rows)] + 0.6 * rng.normal(size=(rows, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    owners = rng.integers(0, tenants, rows)
    groups = rng.integers(0, len(GROUPS), rows)
    return vectors, owners, groups


def literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector) + "]"


async def load(admin_url: str, vectors: np.ndarray, owners: np.ndarray, groups: np.ndarray) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        version = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        await conn.execute("DROP TABLE IF EXISTS bench_chunks")
        await conn.execute(f"DROP ROLE IF EXISTS {APP_ROLE}")
        await conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{APP_PASSWORD}'")
        await conn.execute(
            f"CREATE TABLE bench_chunks (id bigint PRIMARY KEY, tenant_id text NOT NULL, groups text[] NOT NULL,"
            f" embedding vector({DIM}) NOT NULL)"
        )
        records = [(i, f"t{owners[i]}", [GROUPS[groups[i]]], literal(vectors[i])) for i in range(len(vectors))]
        await conn.executemany("INSERT INTO bench_chunks VALUES ($1, $2, $3, $4::vector)", records)
        await conn.execute("CREATE INDEX ON bench_chunks (tenant_id)")
        await conn.execute("SET max_parallel_maintenance_workers = 0")
        await conn.execute("CREATE INDEX ON bench_chunks USING hnsw (embedding vector_cosine_ops)")
        await conn.execute("ALTER TABLE bench_chunks ENABLE ROW LEVEL SECURITY")
        await conn.execute("ALTER TABLE bench_chunks FORCE ROW LEVEL SECURITY")
        await conn.execute(
            "CREATE POLICY tenant_isolation ON bench_chunks USING (tenant_id = current_setting('app.tenant_id', true))"
        )
        await conn.execute(f"GRANT SELECT ON bench_chunks TO {APP_ROLE}")
        await conn.execute("ANALYZE bench_chunks")
        return str(version)
    finally:
        await conn.close()


def _query_sql(strategy: Strategy, with_groups: bool) -> str:
    where = "WHERE groups && $2::text[]" if with_groups else ""
    # `+ 0` makes the order an expression the HNSW index cannot serve: an exact scan of the tenant's rows.
    order = "(embedding <=> $1::vector) + 0" if strategy.exact else "embedding <=> $1::vector"
    inner = f"SELECT id, tenant_id, groups, embedding <=> $1::vector AS d FROM bench_chunks {where} ORDER BY {order}"  # noqa: S608
    return f"SELECT * FROM ({inner} LIMIT {TOP_K}) hits ORDER BY d"  # noqa: S608


async def run_strategy(
    app_url: str, strategy: Strategy, queries: list[tuple[int, np.ndarray, bool]], truth: list[set[int]]
) -> dict[str, Any]:
    conn = await asyncpg.connect(app_url)
    returned: list[int] = []
    recalls: list[float] = []
    foreign = 0
    latencies: list[float] = []
    plan = ""
    try:
        for (tenant, vector, with_groups), expected in zip(queries, truth, strict=True):
            sql = _query_sql(strategy, with_groups)
            args: list[object] = [literal(vector)] + ([USER_GROUPS] if with_groups else [])
            async with conn.transaction():
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", f"t{tenant}")
                for statement in strategy.settings:
                    await conn.execute(statement)
                if not plan:
                    lines = [r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args)]
                    plan = "hnsw" if any("hnsw" in line or "embedding_idx" in line for line in lines) else "btree+sort"
                started = time.perf_counter()
                rows = await conn.fetch(sql, *args)
                latencies.append((time.perf_counter() - started) * 1000)
            returned.append(len(rows))
            foreign += sum(
                1
                for r in rows
                if r["tenant_id"] != f"t{tenant}" or (with_groups and not set(r["groups"]) & set(USER_GROUPS))
            )
            recalls.append(len({r["id"] for r in rows} & expected) / max(1, min(TOP_K, len(expected))))
    finally:
        await conn.close()
    return {
        "plan": plan,
        "rows": statistics.mean(returned),
        "empty": sum(1 for n in returned if n == 0),
        "recall": statistics.mean(recalls),
        "foreign": foreign,
        "p50_ms": statistics.median(latencies),
    }


def ground_truth(
    vectors: np.ndarray, owners: np.ndarray, groups: np.ndarray, queries: list[tuple[int, np.ndarray, bool]]
) -> list[set[int]]:
    allowed_groups = [GROUPS.index(g) for g in USER_GROUPS]
    truth = []
    for tenant, vector, with_groups in queries:
        mask = owners == tenant
        if with_groups:
            mask &= np.isin(groups, allowed_groups)
        ids = np.flatnonzero(mask)
        scores = vectors[ids] @ vector
        truth.append({int(i) for i in ids[np.argsort(-scores)[:TOP_K]]})
    return truth


def make_queries(
    vectors: np.ndarray, owners: np.ndarray, tenants: int, count: int, seed: int = 11
) -> list[tuple[int, np.ndarray, bool]]:
    rng = np.random.default_rng(seed)
    queries = []
    for n in range(count):
        tenant = int(rng.integers(0, tenants))
        own = np.flatnonzero(owners == tenant)
        base = vectors[rng.choice(own)] if len(own) else vectors[0]
        query = base + 0.3 * rng.normal(size=DIM).astype(np.float32)
        queries.append((tenant, query / np.linalg.norm(query), n % 2 == 1))
    return queries


def start_server(root: Path, name: str, bin_dir: Path | None) -> tuple[EmbeddedPostgres, str]:
    server = EmbeddedPostgres(data_dir=root / name, host="127.0.0.1", port=free_port("127.0.0.1"), bin_dir=bin_dir)
    (root / name).mkdir(parents=True, exist_ok=True)
    server.preflight()
    return server, server.start(threading.Event())


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


async def measure(url: str, label: str, args: argparse.Namespace) -> None:
    parts = urlsplit(url)
    app_url = urlunsplit(parts._replace(netloc=f"{APP_ROLE}:{APP_PASSWORD}@{parts.hostname}:{parts.port}"))
    conn = await asyncpg.connect(url)
    server_version = await conn.fetchval("SHOW server_version")
    await conn.close()
    for tenants in args.tenants:
        vectors, owners, groups = make_data(args.rows, tenants)
        started = time.perf_counter()
        pgvector = await load(url, vectors, owners, groups)
        load_s = time.perf_counter() - started
        queries = make_queries(vectors, owners, tenants, args.queries)
        truth = ground_truth(vectors, owners, groups, queries)
        print(
            f"\n{label}: PostgreSQL {server_version.split()[0]}, pgvector {pgvector}; {tenants} tenants, "
            f"{args.rows} chunks ({args.rows // tenants} per tenant), {args.queries} queries "
            f"(half with a group filter); load + index {load_s:.0f} s"
        )
        print(f"  {'strategy':<36} {'rows/q':>7} {'empty':>6} {'recall@10':>10} {'foreign':>8} {'p50 ms':>8}  plan")
        for strategy in STRATEGIES:
            if _version_tuple(pgvector) < strategy.min_pgvector:
                print(f"  {strategy.name:<36} {'(needs pgvector 0.8)':>42}")
                continue
            r = await run_strategy(app_url, strategy, queries, truth)
            print(
                f"  {strategy.name:<36} {r['rows']:>7.1f} {r['empty']:>6.0f} {r['recall']:>10.3f}"
                f" {r['foreign']:>8.0f} {r['p50_ms']:>8.1f}  {r['plan']}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks knowledge-isolation", description=__doc__)
    parser.add_argument("--tenants", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--anchor-bin", type=Path, default=os.environ.get("AIAAS_BENCH_PG16_BIN"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aiaas-bench-kb-") as tmp:
        root = Path(tmp)
        # The server runs as an unprivileged user, which must reach its data directory inside this one.
        os.chmod(root, 0o755)  # noqa: S103
        servers = [("current build", None)] + ([("anchor build", args.anchor_bin)] if args.anchor_bin else [])
        for label, bin_dir in servers:
            server, url = start_server(root, label.replace(" ", "-"), bin_dir)
            try:
                asyncio.run(measure(url, label, args))
            finally:
                server.stop()
    if not args.anchor_bin:
        print("\n(no anchor: pass --anchor-bin or AIAAS_BENCH_PG16_BIN for the PostgreSQL 16 + pgvector 0.6.2 build)")
    return 0
