"""Turn latency of the platform against a bare Temporal baseline, on the same server, in one run.

Ours: POST a message through the gateway -> `message.completed` seen on the conversation's SSE stream
(`scripted/echo`, so the model costs nothing). Baseline: update-with-start on a bare workflow whose update
runs one no-op activity. Prints p50/p95/p99, turns per second and the ratio of the medians.

    python -m benchmarks.turn_latency --turns 200 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from benchmarks.baseline_workflow import BaselineWorkflow, noop
from core.settings import Settings
from core.stack.ports import free_port
from core.stack.process import ManagedProcess
from core.stack.stack import throwaway_stack
from db.codec import connect


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": ordered[len(ordered) // 2] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000}


async def _platform_turns(base_url: str, api_key: str, turns: int, concurrency: int) -> tuple[list[float], float]:
    """Each client keeps its conversation's event stream open, as a chat UI does, and times every turn."""
    headers = {"Authorization": f"Bearer {api_key}"}
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency * 2 + 4)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits) as client:

        async def conversation(count: int) -> None:
            conversation_id = (await client.post("/v1/conversations", json={})).json()["id"]
            async with client.stream("GET", f"/v1/conversations/{conversation_id}/events") as stream:
                lines = stream.aiter_lines()
                for i in range(count):
                    started = time.perf_counter()
                    posted = await client.post(
                        f"/v1/conversations/{conversation_id}/messages", json={"content": f"hi {i}"}
                    )
                    message_id = posted.json()["message_id"]
                    async for line in lines:
                        if line.startswith("data: ") and '"message.completed"' in line and message_id in line:
                            break
                    latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        per = [turns // concurrency + (1 if i < turns % concurrency else 0) for i in range(concurrency)]
        await asyncio.gather(*(conversation(n) for n in per if n))
        return latencies, time.perf_counter() - started


async def _baseline_turns(client: Client, turns: int, concurrency: int) -> tuple[list[float], float]:
    queue = f"bench-baseline-{uuid.uuid4().hex[:6]}"
    latencies: list[float] = []
    async with Worker(client, task_queue=queue, workflows=[BaselineWorkflow], activities=[noop]):

        async def conversation(count: int) -> None:
            workflow_id = f"bench:{uuid.uuid4()}"
            for i in range(count):
                started = time.perf_counter()
                await client.execute_update_with_start_workflow(
                    BaselineWorkflow.turn,
                    f"hi {i}",
                    start_workflow_operation=WithStartWorkflowOperation(
                        BaselineWorkflow.run,
                        id=workflow_id,
                        task_queue=queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    ),
                )
                latencies.append(time.perf_counter() - started)
            await client.get_workflow_handle(workflow_id).signal(BaselineWorkflow.finish)

        started = time.perf_counter()
        per = [turns // concurrency + (1 if i < turns % concurrency else 0) for i in range(concurrency)]
        await asyncio.gather(*(conversation(n) for n in per if n))
        return latencies, time.perf_counter() - started


def _report(name: str, latencies: list[float], elapsed: float) -> dict[str, float]:
    stats = percentiles(latencies)
    stats["turns_per_second"] = len(latencies) / elapsed
    print(
        f"{name:<10} n={len(latencies):<5} p50={stats['p50']:7.1f} ms  p95={stats['p95']:7.1f} ms  "
        f"p99={stats['p99']:7.1f} ms  {stats['turns_per_second']:6.1f} turns/s"
    )
    return stats


async def _create_tenant(settings: Settings) -> str:
    from db.migrate import migrate
    from tenancy.tenants import create_tenant

    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    created = await create_tenant(
        settings.database_url or "",
        name=f"bench {uuid.uuid4().hex[:6]}",
        # The largest plan: the benchmark measures turns, not the rate limits and leases of a small one.
        plan="enterprise",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    return created.api_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    with throwaway_stack("aiaas-bench-", task_queue=f"bench-{uuid.uuid4().hex[:6]}") as settings:
        data_dir = settings.data_dir
        api_key = asyncio.run(_create_tenant(settings))
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": settings.temporal_address or "",
            "DATABASE_URL": settings.database_url or "",
            "REDIS_URL": settings.redis_url or "",
            "AIAAS_TASK_QUEUE": settings.task_queue,
            "AIAAS_MODEL_SMALL": "scripted/echo",
            "AIAAS_LOG_LEVEL": "WARNING",
            "AIAAS_DATA_DIR": str(data_dir),
        }
        port = free_port()
        worker = ManagedProcess("bench-worker", [sys.executable, "-m", "app.cli", "worker"], data_dir=data_dir, env=env)
        gateway = ManagedProcess(
            "bench-gateway",
            [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)],
            data_dir=data_dir,
            env=env,
        )
        worker.start()
        gateway.start()
        try:
            gateway.wait_ready(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200, timeout=60)
            figures = asyncio.run(_measure(settings, f"http://127.0.0.1:{port}", api_key, args))
        finally:
            gateway.stop()
            worker.stop()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


async def _measure(settings: Settings, base_url: str, api_key: str, args: argparse.Namespace) -> dict[str, object]:
    client = await connect(settings)
    print(f"turn latency, {args.turns} turns at concurrency {args.concurrency} (after {args.warmup} warm-up turns)")
    await _platform_turns(base_url, api_key, args.warmup, min(args.concurrency, args.warmup))
    await _baseline_turns(client, args.warmup, min(args.concurrency, args.warmup))
    baseline = _report("baseline", *await _baseline_turns(client, args.turns, args.concurrency))
    ours = _report("platform", *await _platform_turns(base_url, api_key, args.turns, args.concurrency))
    ratio = ours["p50"] / baseline["p50"]
    print(f"ratio p50 platform/baseline = {ratio:.2f}x (goal <= 1.5x)")
    return {
        "turns": args.turns,
        "concurrency": args.concurrency,
        "baseline": baseline,
        "platform": ours,
        "p50_ratio": ratio,
    }


if __name__ == "__main__":
    sys.exit(main())
