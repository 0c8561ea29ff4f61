"""Re-embedding a collection: throughput, the cost of the switch and the purge, and what searches see meanwhile.

One collection of `--chunks` chunks (the stdlib docstring passages of `knowledge-search`, repeated to size)
embedded with `offline/feature-hash-256`, on the embedded Postgres. Measured in one run:
  - baseline: MiniLM embedding alone on a sample (chunks/s through the model, no database) and hybrid search
    latency (query embedded, top-10) on the idle collection;
  - re-embed to MiniLM (model-bound: chunks/s against the model alone) and back to the hashing model (instant
    model: the database side of a re-embed), each through the workflow's activities, with searches running
    throughout (their p50/p95 against idle), then the switch and the purge (ms).

    python -m benchmarks knowledge-reembed [--chunks 3000] [--queries 60] [--sample 128]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

from temporalio.testing import ActivityEnvironment

from benchmarks.knowledge_isolation import start_server
from benchmarks.knowledge_sets import APP_PASSWORD, PEPPER, Bench, labelled_pairs
from contracts.knowledge_reembed import PurgeInput, ReembedInput
from core.events import EventBus
from db.migrate import migrate
from knowledge import catalog, reembeds
from knowledge.embeddings import HASHING_DIM, HASHING_MODEL, OFFLINE_DIM, OFFLINE_MODEL, HashingEmbedder
from knowledge.reembed_activities import ReembedActivities
from knowledge.search import search_collections
from knowledge.store import ChunkRow
from tenancy.tenants import create_tenant


class _NoEvents:
    async def publish(self, *args: Any, **kwargs: Any) -> None:
        return None


def _ms(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=20)
    return f"p50 {statistics.median(samples) * 1000:6.1f} ms  p95 {cuts[18] * 1000:6.1f} ms  (n={len(samples)})"


async def _searches(bench: Bench, tenant_id: str, queries: list[str], stop: asyncio.Event | None) -> list[float]:
    took: list[float] = []
    i = 0
    while (stop is None and i < len(queries)) or (stop is not None and not stop.is_set()):
        started = time.perf_counter()
        hits = await search_collections(bench.db.tenant_session, tenant_id, queries[i % len(queries)], top_k=10)
        took.append(time.perf_counter() - started)
        assert hits, "a search found nothing"
        i += 1
        await asyncio.sleep(0)
    return took


async def _reembed(bench: Bench, tenant_id: str, collection_id: str, model: str, dim: int, queries: list[str]) -> None:
    async with bench.db.tenant_session(tenant_id) as session:
        started = await reembeds.create(session, tenant_id, collection_id, model=model, dim=dim)
    assert started is not None
    inp = ReembedInput(tenant_id=tenant_id, collection_id=collection_id, reembed_id=started.id)
    activities = ReembedActivities(bench.db, cast(EventBus, _NoEvents()))
    stop = asyncio.Event()
    searching = asyncio.create_task(_searches(bench, tenant_id, queries, stop))
    began = time.perf_counter()
    embedded = 0
    while True:
        step = await ActivityEnvironment().run(activities.embed, inp)
        embedded += step.embedded
        if step.remaining == 0:
            break
    embed_s = time.perf_counter() - began
    stop.set()
    during = await searching
    began = time.perf_counter()
    assert (await ActivityEnvironment().run(activities.switch, inp)).switched
    switch_s = time.perf_counter() - began
    began = time.perf_counter()
    await ActivityEnvironment().run(activities.purge, PurgeInput(**inp.model_dump(), new_generation=False))
    purge_s = time.perf_counter() - began
    await reembeds_finish(bench, tenant_id, started.id)
    print(f"  re-embed to {model}: {embedded / embed_s:8.0f} chunks/s ({embedded} in {embed_s:.1f} s)")
    print(f"    search during it        {_ms(during)}")
    print(f"    switch {switch_s * 1000:.1f} ms, purge of the old vectors {purge_s * 1000:.0f} ms")


async def reembeds_finish(bench: Bench, tenant_id: str, reembed_id: str) -> None:
    async with bench.db.tenant_session(tenant_id) as session:
        await reembeds.finish(session, reembed_id, "completed", "")


async def run(args: argparse.Namespace, admin_url: str) -> None:
    await migrate(admin_url, APP_PASSWORD)
    app_url = re.sub(r"//postgres:[^@]*@", f"//aiaas_app:{APP_PASSWORD}@", admin_url)
    bench = Bench(admin_url, app_url)
    try:
        pairs = labelled_pairs(600)
        tenant = await create_tenant(bench.admin_url, name=f"reembed {uuid.uuid4().hex[:6]}", pepper=PEPPER)
        tenant_id = tenant.tenant_id
        async with bench.db.tenant_session(tenant_id) as session:
            created = await catalog.create_collection(
                session, tenant_id, name="reembed", description="", model=HASHING_MODEL, dim=HASHING_DIM
            )
        assert created is not None
        collection_id = created.id
        doc = await bench.document(tenant_id, collection_id, "stdlib.txt")
        rows = [
            ChunkRow(ord=i, text=pairs[i % len(pairs)][2], heading=pairs[i % len(pairs)][1], page=None)
            for i in range(args.chunks)
        ]
        await bench.store.replace_chunks(tenant_id, doc, collection_id, rows, groups=[], metadata={})
        texts = [f"{r.heading}\n{r.text}" for r in rows]
        sample = texts[: args.sample]
        began = time.perf_counter()
        for i in range(0, len(sample), 32):
            bench.embedder.embed_sync(sample[i : i + 32])
        model_s = time.perf_counter() - began
        vectors = await HashingEmbedder().embed(texts)
        await bench.store.set_embeddings(tenant_id, doc, dict(enumerate(vectors)), HASHING_DIM)
        queries = [q for q, _h, _p in pairs[: args.queries]]
        idle = await _searches(bench, tenant_id, queries, None)
        print(f"\nknowledge re-embed: {args.chunks} chunks in one collection")
        print(f"  baseline: MiniLM alone     {len(sample) / model_s:8.0f} chunks/s (no database, {len(sample)} chunks)")
        print(f"  baseline: search, idle     {_ms(idle)}")
        await _reembed(bench, tenant_id, collection_id, OFFLINE_MODEL, OFFLINE_DIM, queries)
        await _reembed(bench, tenant_id, collection_id, HASHING_MODEL, HASHING_DIM, queries)
    finally:
        await bench.db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks knowledge-reembed", description=__doc__)
    parser.add_argument("--chunks", type=int, default=3000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--sample", type=int, default=128, help="chunks the model-alone baseline embeds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aiaas-bench-reembed-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        server, url = start_server(root, "reembed", None)
        try:
            asyncio.run(run(args, url))
        finally:
            server.stop()
    return 0
