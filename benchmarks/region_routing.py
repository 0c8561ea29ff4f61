"""What routing a tenant's session to its region's database costs per request, against one database.

One embedded Postgres holds the control plane and two regional data planes (`eu-west`, `us-east`), migrated by
`aiaas migrate`'s own code. A "request" is what most tenant-scoped calls are: open a tenant session, run one
indexed query, commit. Timed, alternating in rounds so the busy machine's drift falls on both alike:

- **single**: `Database` on the control plane (the default mode; the same tenant, the same query);
- **regional**: `RegionalDatabase`, home region cached (every request after a tenant's first), binding
  through `residency_bind_tenant` on the regional database;
- **first request** of a tenant in a process: the control-plane lookup of its region on top (measured by
  clearing the cache before each call).

    python -m benchmarks region_routing --iterations 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text

from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database
from db.migrate_regions import migrate_all
from db.regions import RegionalDatabase, open_database
from tenancy.tenant_admin import create_tenant

_QUERY = text("SELECT count(*) FROM conversations WHERE tenant_id = :t")
ROUNDS = 10


def _stats(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return {"p50_us": statistics.median(samples) * 1e6, "p99_us": q[98] * 1e6, "n": len(samples)}


async def _request(db: Database, tenant_id: str) -> None:
    async with db.tenant_session(tenant_id) as session:
        await (await session.connection()).execute(_QUERY, {"t": tenant_id})


async def _time(call: Callable[[], Awaitable[None]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _measure(settings: Settings, iterations: int) -> dict[str, dict[str, float]]:
    await migrate_all(settings)
    regional = open_database(settings, pool_size=2)
    assert isinstance(regional, RegionalDatabase)
    single = Database(settings.resolved_app_database_url(), pool_size=2)
    try:
        created = await create_tenant(
            regional, name="Bench", plan="pro", data_region="eu-west", pepper="bench-pepper", actor="bench"
        )
        tenant = created.record.id

        async def uncached() -> None:
            regional._homes.clear()
            await _request(regional, tenant)

        cases: dict[str, Callable[[], Awaitable[None]]] = {
            "single database": lambda: _request(single, tenant),
            "regional, region cached": lambda: _request(regional, tenant),
            "regional, first request": uncached,
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for call in cases.values():
            await _time(call, 50)
        per_round = max(1, iterations // ROUNDS)
        for _ in range(ROUNDS):
            for name, call in cases.items():
                samples[name] += await _time(call, per_round)
        return {name: _stats(values) for name, values in samples.items()}
    finally:
        await regional.close()
        await single.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000, help="requests timed per case")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    regions = {"eu-west": "aiaas_bench_eu_west", "us-east": "aiaas_bench_us_east"}
    with throwaway_stack("aiaas-bench-regions-", region_database_urls=regions) as settings:
        results = asyncio.run(_measure(settings, args.iterations))
    base = results["single database"]["p50_us"]
    print(f"one tenant-scoped request (session + one query), {args.iterations} per case, {ROUNDS} alternating rounds")
    for name, stats in results.items():
        print(
            f"{name:<26} p50={stats['p50_us']:8.1f} us  p99={stats['p99_us']:8.1f} us  "
            f"p50 x{stats['p50_us'] / base:4.2f} of single"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
