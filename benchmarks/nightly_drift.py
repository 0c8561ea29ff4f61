"""The nightly drift run end to end: `NightlyDriftWorkflow` over 50 tenants' 30 days of turns in Postgres.

On a throwaway embedded stack (Temporal dev server, Postgres, Redis) with the platform's worker in process
(`app.worker.build_worker`, as `aiaas worker` builds it), the drift benchmark's simulator (`benchmarks.drift_sim`,
same tenants, volumes and shifts as `python -m benchmarks drift`) writes every tenant's turns of `--days` days
into the tables the workflow reads (`benchmarks.drift_seed`), then the real workflow analyses the last night
against its trailing 14 days. Printed, each with the load average of the moment:

- baseline 1: the same run with one tenant (the first, seeded alone before the others);
- baseline 2: `analyse` in process on the simulator's facts of all tenants (CPU and wall seconds), no SQL;
- the 50-tenant run: first the night before the last (cold: no day facts stored yet, every day read from the
  raw rows and the finished baseline days stored, as on a platform's first run), then the last night (`--runs`
  times; the first of them is every night after: the baseline from stored day facts, yesterday and the
  night from the raw rows): wall seconds, days read stored and raw, and seconds summed over tenants per phase
  of the activity (`aiaas_drift_phase_seconds`: read = the facts (stored days, raw SQL, storing finished
  days), analyse, write = the stored report, event = `drift.detected`), with the worker process's CPU seconds;
- agreement: tenants with drift by the workflow against `analyse` on the simulator's facts.

    python -m benchmarks nightly-drift [--tenants 50 --days 30 --seed 7 --concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import time
import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
from prometheus_client import REGISTRY

from activities.drift import DRIFT_PHASES
from app.worker import build_worker
from benchmarks.drift_seed import Rows, bulk_load, copy_rows, day_rows
from benchmarks.drift_sim import Tenant, day_of, day_rng, make_tenants
from contracts.drift import DEFAULT_BASELINE_DAYS, NightlyDriftInput, NightlyDriftResult
from contracts.names import WF_NIGHTLY_DRIFT
from core.logging import configure_logging
from core.settings import Settings
from core.stack.postgres import asyncpg_dsn
from core.stack.stack import throwaway_stack
from db.migrate import migrate
from policies.drift.detector import analyse
from tenancy.tenants import create_tenant

NIGHT = date(2025, 6, 30)


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def _days() -> dict[str, float]:
    return {
        source: REGISTRY.get_sample_value("aiaas_drift_days_total", {"source": source}) or 0.0
        for source in ("stored", "raw")
    }


def _phases() -> dict[str, tuple[float, float]]:
    """(seconds summed, tenants) per phase so far, from the worker's histogram."""
    out = {}
    for phase in DRIFT_PHASES:
        total = REGISTRY.get_sample_value("aiaas_drift_phase_seconds_sum", {"phase": phase}) or 0.0
        count = REGISTRY.get_sample_value("aiaas_drift_phase_seconds_count", {"phase": phase}) or 0.0
        out[phase] = (total, count)
    return out


class Seeder:
    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings, self.args = settings, args
        self.detected: dict[str, bool] = {}
        self.analyse_cpu = self.analyse_wall = 0.0
        self.rows = 0
        self.seconds = 0.0

    async def tenant(self, connection: asyncpg.Connection, sim: Tenant) -> str:
        """Create one tenant, write its days, and analyse its night in process for the baselines."""
        settings, args = self.settings, self.args
        created = await create_tenant(
            settings.database_url or "",
            name=f"drift bench {sim.index} {uuid.uuid4().hex[:6]}",
            plan="pro",
            pepper=settings.api_key_pepper.get_secret_value(),
        )
        days = [day_of(day_rng(args.seed, sim.index, d), sim, d) for d in range(args.days)]
        rng = random.Random(f"{args.seed}:{sim.index}")
        rows = Rows()
        for d, facts in enumerate(days):
            day_rows(rows, created.tenant_id, NIGHT - timedelta(days=args.days - 1 - d), facts, rng)
        started = time.perf_counter()
        async with connection.transaction():
            self.rows += await copy_rows(connection, rows)
        self.seconds += time.perf_counter() - started
        baseline = [f for day in days[-DEFAULT_BASELINE_DAYS - 1 : -1] for f in day]
        wall, cpu = time.perf_counter(), time.process_time()
        result = analyse(baseline, DEFAULT_BASELINE_DAYS, days[-1])
        self.analyse_cpu += time.process_time() - cpu
        self.analyse_wall += time.perf_counter() - wall
        self.detected[created.tenant_id] = result.detected
        return created.tenant_id


async def _nightly(client: Any, queue: str, concurrency: int, label: str, night: date = NIGHT) -> dict[str, Any]:
    before, days, cpu, load = _phases(), _days(), time.process_time(), _load()
    started = time.perf_counter()
    result = await client.execute_workflow(
        WF_NIGHTLY_DRIFT,
        NightlyDriftInput(night=night, concurrency=concurrency),
        id=f"platform:drift:bench-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
        result_type=NightlyDriftResult,
    )
    wall = time.perf_counter() - started
    after = _phases()
    phases = {p: (after[p][0] - before[p][0], int(after[p][1] - before[p][1])) for p in DRIFT_PHASES}
    line = ", ".join(f"{p} {s:.1f} s/{n}" for p, (s, n) in phases.items())
    read = {source: int(n - days[source]) for source, n in _days().items()}
    print(
        f"{label}, night {night}: {result.tenants} tenants ({result.detected} with drift, failed"
        f" {len(result.failed)}) in {wall:.1f} s wall, worker CPU {time.process_time() - cpu:.1f} s; days read:"
        f" {read['stored']} stored, {read['raw']} raw; summed over tenants: {line}  [{load} -> {_load()}]"
    )
    return {"wall": wall, "result": result, "phases": phases}


async def _measure(settings: Settings, args: argparse.Namespace) -> None:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    sims = make_tenants(
        day_rng(args.seed, 1_000_000, 0), args.tenants, min_turns=args.min_turns, max_turns=args.max_turns,
        shifts=min(args.shifts, args.tenants), first_day=DEFAULT_BASELINE_DAYS, last_day=args.days - 1,
    )  # fmt: skip
    seeder = Seeder(settings, args)
    queue = f"bench-nightly-drift-{uuid.uuid4().hex[:6]}"
    worker_settings = settings.model_copy(update={"task_queue": queue})
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url or ""))
    try:
        first = await seeder.tenant(connection, sims[0])
        async with build_worker(worker_settings, task_queue=queue) as deps, deps.worker:
            await connection.execute("ANALYZE")
            one = await _nightly(deps.client, queue, args.concurrency, "baseline, 1 tenant")
            started, load = time.perf_counter(), _load()
            async with bulk_load(connection):
                for sim in sims[1:]:
                    await seeder.tenant(connection, sim)
            await connection.execute("ANALYZE")
            print(
                f"seeded {len(sims)} tenants x {args.days} days: {seeder.rows:,} rows ({seeder.seconds:.0f} s of COPY,"
                f" {time.perf_counter() - started:.0f} s with tenants and simulation)  [{load} -> {_load()}]"
            )
            print(
                f"baseline, analyse in process on the simulator's facts: {len(sims)} tenants"
                f" {seeder.analyse_cpu:.1f} CPU s, {seeder.analyse_wall:.1f} s wall"
            )
            before = NIGHT - timedelta(days=1)
            cold = await _nightly(deps.client, queue, args.concurrency, "cold (no stored days)", before)
            runs = [await _nightly(deps.client, queue, args.concurrency, f"run {n + 1}") for n in range(args.runs)]
        async with connection.transaction():
            rows = await connection.fetch("SELECT tenant_id, detected FROM drift_reports WHERE night = $1", NIGHT)
    finally:
        await connection.close()
    stored = {r["tenant_id"]: r["detected"] for r in rows}
    agree = sum(stored.get(t) == d for t, d in seeder.detected.items())
    print(
        f"agreement: workflow and in-process analyse agree on {agree}/{len(seeder.detected)} tenants"
        f" (drift: workflow {sum(stored.values())}, in process {sum(seeder.detected.values())}); first tenant {first}"
    )
    best = min(r["wall"] for r in runs)
    per_tenant = one["wall"]
    print(
        f"nightly run of {len(sims)} tenants: first after the cold night {runs[0]['wall']:.1f} s, best {best:.1f} s"
        f" (goal < 60 s), cold {cold['wall']:.1f} s ({cold['wall'] / runs[0]['wall']:.1f}x); one tenant"
        f" {per_tenant:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks nightly-drift", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--days", type=int, default=30, help="days of turns per tenant (the last is the night)")
    parser.add_argument("--shifts", type=int, default=20)
    parser.add_argument("--min-turns", type=int, default=800)
    parser.add_argument("--max-turns", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=NightlyDriftInput().concurrency)
    parser.add_argument("--runs", type=int, default=2, help="runs of the last night after the cold night before it")
    args = parser.parse_args(argv)
    if args.days <= DEFAULT_BASELINE_DAYS + 1:
        parser.error(f"--days must exceed the baseline of {DEFAULT_BASELINE_DAYS} days and the cold night")
    configure_logging("WARNING", json_output=True)
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    print(f"start  [{_load()}, {os.cpu_count()} cores]")
    with throwaway_stack("aiaas-bench-nightly-drift-", env="test", log_level="WARNING") as settings:
        asyncio.run(_measure(settings, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
