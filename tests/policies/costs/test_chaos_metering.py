"""Exactly-once billing while workers die: hundreds of metered calls, the worker killed with SIGKILL several
times mid-run and restarted; afterwards every step is settled exactly once with exactly its usage.

Kills are paced by progress, not by time: each comes after a random number of further settlements, so it
always lands in the middle of work whatever the machine's speed. Reservations expire after 3 s here and
are swept while the run goes on, so a killed attempt's reservation is sometimes taken over live by its
retry and sometimes refunded first and armed again: both paths must end in one settlement.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from core.settings import Settings
from core.stack.process import ManagedProcess
from db.codec import connect
from db.database import Database, run_sql
from policies.cost_guard import CostGuard
from policies.ledger import ledger_key, model_step_key, month_tokens
from policies.pricing import Pricing
from tenancy.tenants import create_tenant
from tests.e2e.platform import apply_migrations, platform_env
from tests.policies.costs.chaos_worker import READY_LINE, stats_key
from tests.policies.costs.chaos_workflow import (
    CHAOS_MODEL,
    ChaosMeteringWorkflow,
    ChaosRunInput,
    message_id_for,
    usage_for,
    workflow_id_for,
)

log = logging.getLogger("tests.policies.costs.chaos")

ROOT = Path(__file__).resolve().parents[3]
RUNS = 30
CALLS_PER_RUN = 10
TOTAL = RUNS * CALLS_PER_RUN
KILLS = 4
CALL_SECONDS = 0.3
SEED = 20240611


@dataclass
class Outcome:
    kills: int
    expired_by_sweep: int
    results: list[int]


def _start(worker: ManagedProcess) -> None:
    worker.start()
    worker.wait_ready(lambda: any(READY_LINE in line for line in worker.tail(50)), timeout=90)


def _queue(worker: ManagedProcess) -> str:
    return (worker.env or {})["AIAAS_CHAOS_TASK_QUEUE"]


def _kill(worker: ManagedProcess) -> None:
    assert worker.pid is not None
    os.killpg(worker.pid, signal.SIGKILL)
    worker.stop()


async def _settled(db: Database, tenant_id: str) -> int:
    async with db.tenant_session(tenant_id) as session:
        result = await run_sql(session, "SELECT count(*) FROM usage_ledger WHERE status = 'settled'")
        return int(result.scalar_one())


async def _run_with_kills(
    settings: Settings, worker: ManagedProcess, guard: CostGuard, db: Database, tenant: str
) -> Outcome:
    client = await connect(settings)
    await asyncio.to_thread(_start, worker)
    handles = [
        await client.start_workflow(
            ChaosMeteringWorkflow.run,
            ChaosRunInput(
                tenant_id=tenant, conversation_id=str(uuid.uuid4()), run=run, calls=CALLS_PER_RUN,
                sleep_seconds=CALL_SECONDS,
            ),
            id=workflow_id_for(tenant, run),
            task_queue=_queue(worker),
            task_timeout=timedelta(seconds=2),
        )
        for run in range(RUNS)
    ]  # fmt: skip
    rng = random.Random(SEED)
    kills = expired = 0
    baseline = 0
    while kills < KILLS:
        target = baseline + rng.randint(15, 40)
        settled = await _settled(db, tenant)
        while settled < target and settled < TOTAL:
            expired += await guard.expire_reservations(tenant)
            await asyncio.sleep(0.2)
            settled = await _settled(db, tenant)
        if settled >= TOTAL:
            break
        await asyncio.to_thread(_kill, worker)
        kills += 1
        await asyncio.sleep(rng.uniform(0.2, 1.0))
        await asyncio.to_thread(_start, worker)
        baseline = await _settled(db, tenant)
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=180)
    return Outcome(kills=kills, expired_by_sweep=expired, results=list(results))


async def _scenario(
    settings: Settings, worker: ManagedProcess, tenant: str
) -> tuple[Outcome, list[Any], dict[str, int], dict[str, int]]:
    db = Database(settings.resolved_app_database_url(), pool_size=2)
    redis = Redis.from_url(settings.redis_url or "", decode_responses=True)
    guard = CostGuard(db, redis, None)
    try:
        outcome = await _run_with_kills(settings, worker, guard, db, tenant)
        # Whatever a dead worker left reserved is refunded by the sweep, over every tenant.
        await guard.expire_reservations()
        async with db.tenant_session(tenant) as session:
            result = await run_sql(
                session,
                "SELECT key, status, prompt_tokens, completion_tokens, cost_usd, "
                "to_char(settled_at AT TIME ZONE 'UTC', 'YYYYMM') AS month FROM usage_ledger",
            )
            rows: list[Any] = list(result.all())
        months = {str(row.month) for row in rows if row.month}
        counted = {month: await month_tokens(redis, tenant, month) for month in months}
        raw_stats = await redis.hgetall(stats_key(_queue(worker)))
        stats = {str(k): int(v) for k, v in raw_stats.items()}
        return outcome, rows, counted, stats
    finally:
        await db.close()
        await redis.aclose()


@pytest.mark.slow
def test_every_step_is_billed_exactly_once_while_workers_are_killed(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_migrations(settings)
    tenant = asyncio.run(
        create_tenant(settings.database_url or "", name=f"Chaos {uuid.uuid4().hex[:6]}", pepper="chaos-pepper")
    ).tenant_id
    data_dir = tmp_path_factory.mktemp("chaos")
    queue = f"chaos-{uuid.uuid4().hex[:8]}"
    env = platform_env(settings, data_dir)
    env.update({"AIAAS_CHAOS_TASK_QUEUE": queue, "AIAAS_RESERVATION_TTL_SECONDS": "3"})
    worker = ManagedProcess(
        f"chaos-worker-{queue}",
        [sys.executable, "-m", "tests.policies.costs.chaos_worker"],
        data_dir=data_dir,
        env=env,
        cwd=ROOT,
    )
    try:
        outcome, rows, counted, stats = asyncio.run(_scenario(settings, worker, tenant))
    finally:
        worker.stop()

    summary = (
        f"chaos metering: {TOTAL} calls in {RUNS} workflows, {outcome.kills} worker kills, "
        f"{stats.get('attempts', 0)} attempts ({stats.get('retries', 0)} retries, "
        f"{stats.get('takeovers', 0)} took over a live reservation, "
        f"{stats.get('replays_of_settled', 0)} replayed a settled step), "
        f"{outcome.expired_by_sweep} reservations expired by the sweep"
    )
    log.warning(summary)
    with capsys.disabled():
        print(f"\n{summary}")

    assert outcome.results == [CALLS_PER_RUN] * RUNS
    assert outcome.kills == KILLS, "every kill must land mid-run"
    assert stats.get("retries", 0) >= 1, "killed attempts must have been retried"

    pricing = Pricing.from_settings(settings)
    expected = {}
    for run in range(RUNS):
        for step in range(CALLS_PER_RUN):
            prompt, completion = usage_for(run, step)
            key = ledger_key(workflow_id_for(tenant, run), model_step_key(message_id_for(run), step))
            expected[key] = (prompt, completion, pricing.cost(CHAOS_MODEL, prompt, completion))
    # One row per step and no other: settled, with exactly that step's usage and price.
    assert len(rows) == len({row.key for row in rows}) == TOTAL
    assert Counter(row.status for row in rows) == {"settled": TOTAL}
    assert {row.key: (row.prompt_tokens, row.completion_tokens, row.cost_usd) for row in rows} == expected
    assert sum((row.cost_usd for row in rows), Decimal(0)) == sum(
        (cost for _p, _c, cost in expected.values()), Decimal(0)
    )
    # The month counter admission reads holds every token once.
    tokens = Counter[str]()
    for row in rows:
        tokens[row.month] += row.prompt_tokens + row.completion_tokens
    assert counted == dict(tokens)
    assert sum(tokens.values()) == sum(p + c for p, c, _cost in expected.values())
