"""Turn latency and throughput of the platform against a bare Temporal baseline, same server, same run.

Ours: POST a message through the gateway -> `message.completed` seen on the conversation's SSE stream
(`scripted/echo`, so the model costs nothing), with N worker and N gateway processes as `aiaas up` runs
them (default one each per core). Baseline: update-with-start on a bare workflow whose update runs one
no-op activity, through a client with the platform's payload codec, so both encrypt every payload.
For each concurrency it prints p50/p95/p99, turns per second, and the ratios against the baseline, and the
CPU time the platform's worker and gateway processes spent per turn: on a shared machine latency moves with
the neighbours' load, the CPU a turn costs much less.

    python -m benchmarks turns --concurrency 1,8,32 --turns-per-client 12
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
from contextlib import suppress
from pathlib import Path

import httpx
import psutil
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from benchmarks.baseline_workflow import BaselineWorkflow, noop
from benchmarks.platform_processes import Platform, running_platform
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.codec import connect

GOALS = {1: 1.3, 8: 1.6}  # p50 ratio goals; throughput goal 0.6x at 8 and above
RETRY_STATUSES = (429, 503)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": ordered[len(ordered) // 2] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000}


async def create_conversation(client: httpx.AsyncClient) -> str:
    """Creates a conversation, waiting out a 429/503 as a client would; anything else is an error."""
    for _ in range(20):
        created = await client.post("/v1/conversations", json={})
        if created.status_code in (200, 201):
            return str(created.json()["id"])
        if created.status_code not in RETRY_STATUSES:
            break
        await asyncio.sleep(min(float(created.headers.get("Retry-After", "1")), 2.0))
    raise RuntimeError(f"conversation not created: {created.status_code} {created.text[:200]}")


async def _post_message(client: httpx.AsyncClient, conversation_id: str, content: str, errors: list[str]) -> str:
    """Sends until accepted: a 429/503 is waited out and retried with the same client_message_id."""
    body = {"content": content, "client_message_id": uuid.uuid4().hex}
    for _ in range(20):
        posted = await client.post(f"/v1/conversations/{conversation_id}/messages", json=body)
        if posted.status_code in (200, 202):
            return str(posted.json()["message_id"])
        errors.append(f"{posted.status_code} {posted.json().get('error', {}).get('code', '?')}")
        if posted.status_code not in RETRY_STATUSES:
            break
        await asyncio.sleep(min(float(posted.headers.get("Retry-After", "1")), 2.0))
    raise RuntimeError(f"message not accepted: {errors[-1]}")


async def _platform_turns(base_url: str, api_key: str, per_client: int, concurrency: int) -> dict[str, object]:
    """Each client keeps its conversation's event stream open, as a chat UI does, and times every turn."""
    headers = {"Authorization": f"Bearer {api_key}"}
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=concurrency * 2 + 4)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60, limits=limits) as client:

        async def conversation() -> None:
            conversation_id = (await client.post("/v1/conversations", json={})).json()["id"]
            async with client.stream("GET", f"/v1/conversations/{conversation_id}/events") as stream:
                lines = stream.aiter_lines()
                for i in range(per_client):
                    started = time.perf_counter()
                    message_id = await _post_message(client, conversation_id, f"hi {i}", errors)
                    async for line in lines:
                        if line.startswith("data: ") and '"message.completed"' in line and message_id in line:
                            break
                    latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(conversation() for _ in range(concurrency)))
        return {"latencies": latencies, "elapsed": time.perf_counter() - started, "retries": errors}


async def _baseline_turns(client: Client, queue: str, per_client: int, concurrency: int) -> dict[str, object]:
    latencies: list[float] = []

    async def conversation() -> None:
        workflow_id = f"bench:{uuid.uuid4()}"
        for i in range(per_client):
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
    await asyncio.gather(*(conversation() for _ in range(concurrency)))
    return {"latencies": latencies, "elapsed": time.perf_counter() - started, "retries": []}


def _report(name: str, run: dict[str, object]) -> dict[str, float]:
    latencies = run["latencies"]
    assert isinstance(latencies, list)
    stats = percentiles(latencies)
    stats["turns_per_second"] = len(latencies) / float(run["elapsed"])  # type: ignore[arg-type]
    stats["retries"] = len(run["retries"])  # type: ignore[arg-type]
    print(
        f"  {name:<9} n={len(latencies):<5} p50={stats['p50']:7.1f} ms  p95={stats['p95']:7.1f} ms  "
        f"p99={stats['p99']:7.1f} ms  {stats['turns_per_second']:6.1f} turns/s  retried={int(stats['retries'])}"
    )
    return stats


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with suppress(psutil.NoSuchProcess):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


async def _measure(settings: Settings, platform: Platform, args: argparse.Namespace) -> list[dict[str, object]]:
    base_url, api_key = platform.base_url, platform.api_key
    workers = [p.pid for p in platform.workers if p.pid is not None]
    gateways = [p.pid for p in platform.gateways if p.pid is not None]
    client = await connect(settings)
    queue = f"bench-baseline-{uuid.uuid4().hex[:6]}"
    results: list[dict[str, object]] = []
    async with Worker(client, task_queue=queue, workflows=[BaselineWorkflow], activities=[noop]):
        warm = max(args.concurrency)
        await _platform_turns(base_url, api_key, args.warmup, warm)
        await _baseline_turns(client, queue, args.warmup, warm)
        for concurrency in args.concurrency:
            # Enough turns at low concurrency for a p95 to mean something.
            per_client = max(args.turns_per_client, -(-args.min_turns // concurrency))
            print(f"concurrency {concurrency}, {per_client} turns per client")
            own = _cpu_seconds([os.getpid()])
            baseline = _report("baseline", await _baseline_turns(client, queue, per_client, concurrency))
            # Its worker runs in this process, with the clients of both measures.
            turns = per_client * concurrency
            baseline["process_cpu_ms_per_turn"] = (_cpu_seconds([os.getpid()]) - own) * 1000 / turns
            print(f"  cpu per turn: baseline worker and client {baseline['process_cpu_ms_per_turn']:.1f} ms")
            cpu_before = _cpu_seconds(workers), _cpu_seconds(gateways)
            ours = _report("platform", await _platform_turns(base_url, api_key, per_client, concurrency))
            ours["worker_cpu_ms_per_turn"] = (_cpu_seconds(workers) - cpu_before[0]) * 1000 / turns
            ours["gateway_cpu_ms_per_turn"] = (_cpu_seconds(gateways) - cpu_before[1]) * 1000 / turns
            print(
                f"  cpu per turn: workers {ours['worker_cpu_ms_per_turn']:.1f} ms, "
                f"gateways {ours['gateway_cpu_ms_per_turn']:.1f} ms"
            )
            ratio = ours["p50"] / baseline["p50"]
            throughput = ours["turns_per_second"] / baseline["turns_per_second"]
            goal = GOALS.get(concurrency)
            print(
                f"  ratio p50 {ratio:.2f}x{f' (goal <= {goal}x)' if goal else ''}, "
                f"throughput {throughput:.2f}x of the baseline{' (goal >= 0.6x)' if concurrency >= 8 else ''}"
            )
            results.append(
                {
                    "concurrency": concurrency,
                    "baseline": baseline,
                    "platform": ours,
                    "p50_ratio": ratio,
                    "throughput_ratio": throughput,
                }
            )
    return results


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=_counts, default=[1, 8, 32], help="comma-separated, e.g. 1,8,32")
    parser.add_argument("--turns-per-client", type=int, default=12)
    parser.add_argument("--min-turns", type=int, default=60, help="turns measured at least, at any concurrency")
    parser.add_argument("--warmup", type=int, default=3, help="turns per client before measuring")
    cores = len(os.sched_getaffinity(0))
    parser.add_argument("--workers", type=int, default=cores, help=f"worker processes (default {cores})")
    parser.add_argument(
        "--activity-workers",
        type=int,
        default=0,
        help="split roles as `aiaas up --worker-roles split`: --workers of role workflows and this many of role "
        "activities (default 0: every worker of role all)",
    )
    parser.add_argument("--gateways", type=int, default=cores, help=f"gateway processes (default {cores})")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    with throwaway_stack("aiaas-bench-", task_queue=f"bench-{uuid.uuid4().hex[:6]}") as settings:
        roles = f" ({args.workers} workflows, {args.activity_workers} activities)" if args.activity_workers else ""
        workers = args.workers + args.activity_workers
        print(f"turns: {workers} worker{roles} and {args.gateways} gateway processes, {cores} cores")
        with running_platform(settings, args.workers, args.gateways, args.activity_workers) as platform:
            figures = asyncio.run(_measure(settings, platform, args))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
