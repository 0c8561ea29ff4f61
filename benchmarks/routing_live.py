"""A routing decision through the live path, with and without the static embedding.

    python -m benchmarks routing-live [--samples 500] [--draws 6]

On a throwaway Postgres and Redis, one process. Two tenants each store a router fitted on MT-Bench's
questions with synthetic labels (`benchmarks.routing_table`): one without the static embedding (the baseline)
and one with it (`fit(embeddings=True)`, what `aiaas router train --embeddings` stores). Each sample is one
`router.decide` (`RoutingActivities.decide`: the turn's messages, settings and router read in one transaction,
features, the embedding when the router reads it, the policy, the `route.decided` event) on a fresh message
of each tenant, interleaved, texts drawn from MT-Bench's 160 prompts (20 to 2,000 characters).

Reported, per kind: wall and thread CPU time of the whole activity (Postgres and Redis round trips included;
the CPU time is the process's own work, wall adds waiting and descheduling), and the part
the embedding changes, `RoutingActivities.classifier` (the router chosen and, for the embedding router, the
text's vector), as wall and thread CPU time. The table is loaded before timing (a worker loads it at start;
until then the decision falls back, which this does not time); it is built first if the cache lacks it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from redis.asyncio import Redis

from activities.routing import RoutingActivities
from benchmarks.routing_table import Prompt, prompts, table
from benchmarks.stored_message import stored_message
from contracts.routing import RouteInput
from core.crypto import fields
from core.events import EventBus
from core.logging import configure_logging
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database
from db.migrate import migrate
from router import versions
from router.classifier import PassClassifier
from router.features import TurnContext, extract
from router.static_embedding import shared
from router.table import TrainingRow
from router.train import fit
from tenancy.tenants import create_tenant

KINDS = ("without embedding", "with embedding")


def _routers(items: list[Prompt], draws: int) -> tuple[PassClassifier, PassClassifier]:
    rows = table(items, draws)
    embedder = shared()
    vectors = {(p.question_id, p.turn): embedder.features(p.text) for p in items}
    per_prompt = [p for p in items for _ in range(draws)]
    rows_emb = [
        TrainingRow(r.key, {**r.features, **vectors[(p.question_id, p.turn)]}, r.small_pass, r.large_pass)
        for r, p in zip(rows, per_prompt, strict=True)
    ]
    return fit(rows), fit(rows_emb, embeddings=True)


async def _message(db: Database, tid: str, text: str) -> RouteInput:
    cid, mid = await stored_message(db, tid, text)
    return RouteInput(tenant_id=tid, conversation_id=cid, message_id=mid, agent="support")


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(values), "p99_ms": statistics.quantiles(values, n=100)[98]}


async def _measure(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    fields.configure(settings)
    items = prompts()
    plain, with_embedding = _routers(items, args.draws)
    db = Database(settings.resolved_app_database_url(), pool_size=4)
    redis = Redis.from_url(settings.redis_url or "")
    pepper = settings.api_key_pepper.get_secret_value()
    try:
        routing = RoutingActivities(db, EventBus(redis), settings.model_copy(update={"model_small": "scripted/echo"}))
        tenants = {}
        for kind, router in zip(KINDS, (plain, with_embedding), strict=True):
            created = await create_tenant(settings.database_url or "", name=f"bench route {kind[:4]}", pepper=pepper)
            await versions.store(db, created.tenant_id, router)
            tenants[kind] = (created.tenant_id, router.version)
        parts = ("decide", "decide cpu", "cls", "cpu")
        times: dict[str, list[float]] = {f"{kind} {part}": [] for kind in KINDS for part in parts}
        for n in range(args.samples + 20):
            text = items[n % len(items)].text
            for kind in KINDS if n % 2 else KINDS[::-1]:  # neither kind always runs first
                tid, version = tenants[kind]
                inp = await _message(db, tid, text)
                started, started_cpu = time.perf_counter(), time.thread_time()
                decision = await routing.decide(inp)
                elapsed = (time.perf_counter() - started) * 1000
                elapsed_cpu = (time.thread_time() - started_cpu) * 1000
                assert decision.router_version == version, (kind, decision.router_version)
                features = extract(text, TurnContext(plan="free"))
                wall, cpu = time.perf_counter(), time.thread_time()
                await routing.classifier(tid, version, features, text)
                cls_wall, cls_cpu = (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000
                if n >= 20:  # the first 20 warm the pools
                    times[f"{kind} decide"].append(elapsed)
                    times[f"{kind} decide cpu"].append(elapsed_cpu)
                    times[f"{kind} cls"].append(cls_wall)
                    times[f"{kind} cpu"].append(cls_cpu)
    finally:
        await redis.aclose()
        await db.close()
    return {name: _summary(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=500, help="decisions of each kind")
    parser.add_argument("--draws", type=int, default=6, help="graded answers per MT-Bench prompt in the table")
    args = parser.parse_args(argv)
    configure_logging("WARNING", json_output=False)
    shared().load()  # built here, before any timing, when the cache lacks it
    with throwaway_stack("aiaas-bench-route-") as settings:
        result = asyncio.run(_measure(settings, args))
    print(json.dumps(result, indent=1))
    base, emb = result["without embedding decide"], result["with embedding decide"]
    for part, label in (
        ("decide", "router.decide wall"),
        ("decide cpu", "router.decide cpu"),
        ("cls", "router + embedding wall"),
        ("cpu", "router + embedding cpu"),
    ):
        b, e = result[f"without embedding {part}"], result[f"with embedding {part}"]
        print(
            f"{label}: with embedding p50 {e['p50_ms']:.3f} ms, p99 {e['p99_ms']:.3f} ms; without (baseline, same run)"
            f" p50 {b['p50_ms']:.3f} ms, p99 {b['p99_ms']:.3f} ms; +{e['p99_ms'] - b['p99_ms']:.3f} ms p99"
        )
    print(f"router.decide p99 ratio with / without embedding: {emb['p99_ms'] / base['p99_ms']:.2f}x")
    return 0
