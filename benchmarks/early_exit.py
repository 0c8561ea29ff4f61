"""Early exit's decision overhead: the lookup a turn pays before its first model call.

    python -m benchmarks early-exit [--samples 500]

On a throwaway Postgres and Redis, one process. Each sample is one `router.early_exit_lookup` on a fresh
conversation's first question, measured three ways in the same run, interleaved sample by sample:
- miss (the baseline): the tenant opted in, the question was never answered (settings, question, agent stamp
  and knowledge version read in one transaction, then one Redis GET);
- hit: the same with the question answered before (plus the `route.decided` event);
- off, read: a tenant that did not opt in, seen for the first time by the process (one settings read);
- off: the same tenant again, its off state remembered (`OFF_MEMO_SECONDS`): what most turns of tenants that
  never opt in pay.
A hit then skips the model call entirely, which this benchmark does not time (a model call is 100s of ms).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from activities.early_exit import EarlyExitActivities
from benchmarks.stored_message import stored_message
from contracts.early_exit import EarlyExitInput, EarlyExitStoreInput
from core.crypto import fields
from core.events import EventBus
from core.logging import configure_logging
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database
from db.migrate import migrate
from router import settings_store
from router.catalog import catalog_at
from tenancy.tenants import create_tenant


async def _question(db: Database, tid: str, text: str) -> EarlyExitInput:
    cid, mid = await stored_message(db, tid, text)
    return EarlyExitInput(tenant_id=tid, conversation_id=cid, message_id=mid, agent="support")


async def _tenant(settings: Settings, db: Database, opted: bool) -> str:
    tenant = await create_tenant(settings.database_url or "", name=f"bench early {uuid.uuid4().hex[:6]}",
                                 pepper=settings.api_key_pepper.get_secret_value())  # fmt: skip
    if opted:
        wanted = dataclasses.replace(settings_store.RouterSettings(), early_exit=True)
        await settings_store.save(db, tenant.tenant_id, wanted, catalog_at(settings.router_catalog))
    return tenant.tenant_id


async def _measure(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    fields.configure(settings)
    db = Database(settings.resolved_app_database_url(), pool_size=4)
    redis = Redis.from_url(settings.redis_url or "")
    try:
        cache = EarlyExitActivities(db, redis, EventBus(redis))
        opted, off = await _tenant(settings, db, True), await _tenant(settings, db, False)
        seed = await cache.lookup(await _question(db, opted, "What are your opening hours?"))
        await cache.store(EarlyExitStoreInput(tenant_id=opted, key=seed.key, answer="Nine to five.", model="m"))
        times: dict[str, list[float]] = {"miss": [], "hit": [], "off, read": [], "off": []}
        for n in range(args.samples + 20):
            inputs = {
                "miss": await _question(db, opted, f"Question number {n} {uuid.uuid4().hex}?"),
                "hit": await _question(db, opted, "what are your OPENING hours"),
                "off, read": await _question(db, off, "What are your opening hours?"),
                "off": await _question(db, off, "What are your opening hours?"),
            }
            for name, inp in inputs.items():
                fresh = EarlyExitActivities(db, redis, EventBus(redis)) if name == "off, read" else cache
                started = time.perf_counter()
                result = await fresh.lookup(inp)
                elapsed = (time.perf_counter() - started) * 1000
                assert (result.answer is not None) == (name == "hit"), name
                if n >= 20:  # the first 20 warm the pools
                    times[name].append(elapsed)
    finally:
        await redis.aclose()
        await db.close()
    return {
        name: {
            "p50_ms": statistics.median(values),
            "p99_ms": statistics.quantiles(values, n=100)[98],
            "mean_ms": statistics.fmean(values),
        }
        for name, values in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=500, help="samples of each kind")
    args = parser.parse_args(argv)
    configure_logging("WARNING", json_output=False)
    with throwaway_stack("aiaas-bench-early-") as settings:
        result = asyncio.run(_measure(settings, args))
    print(json.dumps(result, indent=1))
    miss = result["miss"]
    for name in ("hit", "off, read", "off"):
        row = result[name]
        print(
            f"{name}: p50 {row['p50_ms']:.3f} ms, p99 {row['p99_ms']:.3f} ms;"
            f" against miss (baseline, same run) p50 {miss['p50_ms']:.2f} ms, p99 {miss['p99_ms']:.2f} ms:"
            f" {row['p50_ms'] / miss['p50_ms']:.2f}x p50"
        )
    return 0
