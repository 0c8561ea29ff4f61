"""Saga times on the embedded stack: placing an order, and undoing one whose last step failed.

Ours: `PlaceOrderWorkflow` end to end (five step activities through the tool runtime, Postgres and the
sandbox connectors) from start to result; then the same with `orders.confirm` failing, so every step runs
and then every compensation (four more activities, two saga events). Baseline, same server, same run: a
bare workflow running five no-op activities in a row, which is what Temporal alone costs for five steps.
Prints p50/p95, the ratio of the medians, and the number of fault-injection cases the saga tests run.

    python -m benchmarks.saga_times --orders 50 --failures 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

STEPS = 5


@activity.defn(name="bench.saga_noop")
async def saga_noop(step: int) -> int:
    return step


@workflow.defn(name="BenchSagaBaselineWorkflow")
class SagaBaselineWorkflow:
    @workflow.run
    async def run(self) -> int:
        for step in range(STEPS):
            await workflow.execute_activity(saga_noop, step, start_to_close_timeout=timedelta(seconds=30))
        return STEPS


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else [ordered[0]] * 99
    return {"p50": statistics.median(ordered) * 1000, "p95": q[94] * 1000, "n": len(ordered)}


async def _timed(count: int, one: Callable[[int], Awaitable[None]], concurrency: int) -> list[float]:
    samples: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def timed(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await one(i)
            samples.append(time.perf_counter() - started)

    await asyncio.gather(*(timed(i) for i in range(count)))
    return samples


def _report(name: str, samples: list[float]) -> dict[str, float]:
    stats = percentiles(samples)
    print(f"{name:<26} n={int(stats['n']):<4} p50={stats['p50']:8.1f} ms  p95={stats['p95']:8.1f} ms")
    return stats


async def _measure(settings: Any, args: argparse.Namespace) -> dict[str, Any]:
    from temporalio.worker import Worker

    from commerce.connectors.faults import inject_fault
    from contracts.sagas import ORDERS_CONFIRM, SagaStatus
    from contracts.tool_calls import ToolStatus
    from db.database import run_sql
    from db.migrate import migrate
    from tests.commerce.sagas.cases import counts
    from tests.commerce.sagas.harness import new_shop, place, saga_env

    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    async with saga_env(settings, task_queue=f"bench-sagas-{uuid.uuid4().hex[:6]}") as env:
        assert env.worker is not None
        baseline_queue = f"bench-saga-baseline-{uuid.uuid4().hex[:6]}"
        baseline_worker = Worker(
            env.client, task_queue=baseline_queue, workflows=[SagaBaselineWorkflow], activities=[saga_noop]
        )
        async with env.worker, baseline_worker:
            shop = await new_shop(settings, env.db, "Bench shop")
            async with env.db.tenant_session(shop.tenant_id) as session:
                await run_sql(session, "UPDATE products SET on_hand = on_hand + 1000000")

            async def baseline(_i: int) -> None:
                await env.client.execute_workflow(
                    SagaBaselineWorkflow.run, id=f"bench-baseline-{uuid.uuid4().hex}", task_queue=baseline_queue
                )

            async def placed(_i: int) -> None:
                _run, result = await place(env, shop, {shop.skus[0]: 1, shop.skus[1]: 1})
                assert result.status == ToolStatus.OK, result

            async def compensated(_i: int) -> None:
                _run, result = await place(env, shop, {shop.skus[0]: 1})
                assert result.output["saga_status"] == SagaStatus.COMPENSATED, result

            print(
                f"saga times: {args.orders} orders, {args.failures} failures at the last step, "
                f"concurrency {args.concurrency} (after {args.warmup} warm-up runs)"
            )
            await _timed(args.warmup, baseline, args.concurrency)
            await _timed(args.warmup, placed, args.concurrency)
            base = _report("baseline (5 no-op steps)", await _timed(args.orders, baseline, args.concurrency))
            ours = _report("place order (completed)", await _timed(args.orders, placed, args.concurrency))
            await inject_fault(env.db, shop.tenant_id, ORDERS_CONFIRM, mode="fail", times=args.failures)
            undo = _report("place order (compensated)", await _timed(args.failures, compensated, args.concurrency))
    ratio = ours["p50"] / base["p50"]
    print(f"ratio p50 place order/baseline = {ratio:.2f}x; compensated/completed = {undo['p50'] / ours['p50']:.2f}x")
    cases = counts()
    print(
        "fault-injection cases in tests/commerce/sagas: "
        + ", ".join(f"{k} {v}" for k, v in cases.items())
        + f"; total {sum(cases.values())}"
    )
    return {"baseline": base, "completed": ours, "compensated": undo, "p50_ratio": ratio, "fault_cases": cases}


def main(argv: list[str] | None = None) -> int:
    from core.logging import configure_logging
    from core.settings import Settings
    from core.stack.stack import throwaway_stack

    configure_logging("WARNING", json_output=True)
    # Failed activities are the point of the compensation runs; their tracebacks are not news.
    logging.getLogger("temporalio").setLevel(logging.ERROR)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--failures", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    base = Settings()
    if base.temporal_address and base.database_url and base.redis_url:
        figures = asyncio.run(_measure(base, args))
    else:
        with throwaway_stack("aiaas-bench-sagas-", env="test", log_level="WARNING") as settings:
            figures = asyncio.run(_measure(settings, args))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
