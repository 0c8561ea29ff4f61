"""Noisy neighbour on the engine: does tenant A's burst starve tenant B on the shared task queue?

Each job is a workflow that runs one activity (a short sleep standing in for a model call); the worker has
few activity slots, so a burst builds a backlog. Tenant B submits `--jobs` jobs; tenant A submits
`--ratio` times as many just before. Three runs on the same server, each on a fresh task queue:

    alone     B's jobs with no neighbour (the baseline)
    fifo      A's burst then B's jobs, no fairness keys: dispatch is first in, first out
    fair      the same with the platform's priority (`policies.fairness.priority_for`, tenant as key)
    fair+gate the same with every start passing the gateway's start admission first (`api.admission.starts`:
              the tenant's start rate in Redis, sized by the plan, then the fair start queue), as a message
              POST's update-with-start does; a refused start is retried after its `Retry-After`, as a client
              would, so every job still runs

For each run it prints B's activity queue wait (scheduled -> started) p50/p95, B's end-to-end p95 (start
of the workflow -> result: every workflow and activity task of the job waited in the queue), and
Jain's fairness index over the two tenants' completed jobs while both had work queued (1.0 = equal
shares, 0.5 = one tenant took everything).

Every run's worker polls workflow tasks as the platform's worker does (`app.worker.workflow_task_polling`:
`AIAAS_WORKER_WORKFLOW_TASK_POLLERS`, `AIAAS_WORKER_NONSTICKY_POLL_RATIO`), or with the SDK's defaults under
`--sdk-pollers`; the start queue's width is `AIAAS_START_QUEUE_IN_FLIGHT`, adapted to the engine's latency
unless `AIAAS_START_QUEUE_ADAPTIVE=false` (the comparison).

    python -m benchmarks.noisy_neighbour --jobs 10 --ratio 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from temporalio.client import Client
from temporalio.common import Priority
from temporalio.worker import Worker

from api.admission.plans import TenantPlan
from api.admission.starts import StartAdmission
from api.errors import ApiError
from app.worker import workflow_task_polling
from benchmarks.fair_job import FairJob, fair_work
from core.settings import Settings
from core.stack.stack import throwaway_stack
from policies.fairness import priority_for


@dataclass
class JobResult:
    tenant: str
    queue_wait: float
    finished_at: float
    latency: float
    first_task_wait: float = 0.0
    after_activity_wait: float = 0.0
    start_accepted: float = 0.0


START_RPC_TIMEOUT = timedelta(seconds=120)


@dataclass
class Gate:
    """The gateway's start admission, and each tenant's plan as a message POST would carry it."""

    admission: StartAdmission
    plans: dict[str, TenantPlan]
    refused: int = 0


async def _start(client: Client, queue: str, tenant: str, priority: Priority, submitted: float) -> Any:
    return await client.start_workflow(
        FairJob.run,
        args=[tenant, submitted],
        id=f"bench-fair-{uuid.uuid4()}",
        task_queue=queue,
        priority=priority,
        # A flood's starts queue at the server; on a busy machine the SDK's default deadline expires there.
        # The benchmark measures that wait rather than failing on it.
        rpc_timeout=START_RPC_TIMEOUT,
    )


async def _job(client: Client, queue: str, tenant: str, priority: Priority, gate: Gate | None = None) -> JobResult:
    started = time.perf_counter()
    submitted = time.time()
    if gate is None:
        handle = await _start(client, queue, tenant, priority, submitted)
    else:
        while True:
            try:
                async with gate.admission.slot(gate.plans[tenant]):
                    handle = await _start(client, queue, tenant, priority, submitted)
                break
            except ApiError as refusal:  # 429: come back when it says, as a client would
                gate.refused += 1
                await asyncio.sleep(float((refusal.headers or {}).get("Retry-After", "1")))
    # How long the start took to be accepted (with the gate: its wait there too); the rest of the first
    # task's wait is the task queue's.
    accepted = time.time() - submitted
    first_task, wait, after_activity = await handle.result()
    done = time.perf_counter()
    return JobResult(
        tenant=tenant,
        queue_wait=wait,
        finished_at=done,
        latency=done - started,
        first_task_wait=first_task,
        after_activity_wait=after_activity,
        start_accepted=accepted,
    )


def _p(samples: list[float], q: int) -> float:
    if len(samples) < 2:
        return samples[0] * 1000 if samples else 0.0
    return statistics.quantiles(sorted(samples), n=100, method="inclusive")[q - 1] * 1000


def jain(shares: list[float]) -> float:
    total = sum(shares)
    squares = sum(x * x for x in shares)
    return (total * total) / (len(shares) * squares) if squares else 1.0


async def _run(
    client: Client,
    name: str,
    b_jobs: int,
    a_jobs: int,
    fair: bool,
    slots: int,
    sticky: bool = True,
    gate: Gate | None = None,
    polling: dict[str, Any] | None = None,
) -> dict[str, float]:
    queue = f"bench-fair-{name}-{uuid.uuid4().hex[:6]}"
    none = Priority()
    a_priority = priority_for("tenant-a", queue_priority=3, fairness_weight=1.0) if fair else none
    b_priority = priority_for("tenant-b", queue_priority=3, fairness_weight=1.0) if fair else none
    async with Worker(
        client,
        task_queue=queue,
        workflows=[FairJob],
        activities=[fair_work],
        # Few slots of both kinds, so the backlog stays on the server, where priority and fairness apply,
        # instead of in the worker's buffers, which serve first in, first out.
        max_concurrent_activities=slots,
        max_concurrent_workflow_tasks=slots,
        # Without a workflow cache every workflow task goes through the shared queue, none through the
        # worker's sticky queue (the `fair-nosticky` run).
        **({} if sticky else {"max_cached_workflows": 0}),
        # How the worker shares its workflow-task polls between the shared and the sticky queue: the
        # platform's settings (`app.worker.workflow_task_polling`), or the SDK's defaults with `--sdk-pollers`.
        **(polling or {}),
    ):
        a_tasks = [asyncio.create_task(_job(client, queue, "a", a_priority, gate)) for _ in range(a_jobs)]
        if a_jobs:
            await asyncio.sleep(0.5)  # A's burst is queued before B arrives
        b_results = await asyncio.gather(*(_job(client, queue, "b", b_priority, gate) for _ in range(b_jobs)))
        b_done = max(r.finished_at for r in b_results)
        a_results = await asyncio.gather(*a_tasks)
    # Shares while both tenants had work: up to the moment B's last job finished.
    a_served = sum(1 for r in a_results if r.finished_at <= b_done)
    b_waits = [r.queue_wait for r in b_results]
    figures = {
        "b_wait_p50_ms": _p(b_waits, 50),
        "b_wait_p95_ms": _p(b_waits, 95),
        "b_latency_p50_ms": _p([r.latency for r in b_results], 50),
        "b_latency_p95_ms": _p([r.latency for r in b_results], 95),
        "b_first_task_p95_ms": _p([r.first_task_wait for r in b_results], 95),
        "b_start_accepted_p95_ms": _p([r.start_accepted for r in b_results], 95),
        "b_after_activity_p95_ms": _p([r.after_activity_wait for r in b_results], 95),
        "jain": jain([float(a_served), float(len(b_results))]) if a_jobs else 1.0,
        "a_served_while_b_waited": float(a_served),
        "refused": float(gate.refused if gate else 0),
    }
    print(
        f"{name:<13} B wait p50={figures['b_wait_p50_ms']:8.1f} ms  p95={figures['b_wait_p95_ms']:8.1f} ms  "
        f"B end-to-end p95={figures['b_latency_p95_ms']:8.1f} ms  "
        f"A served meanwhile={a_served:4d}  Jain={figures['jain']:.2f}\n"
        f"{'':<13} B p95 waits: start accepted {figures['b_start_accepted_p95_ms']:8.1f} ms, "
        f"first workflow task {figures['b_first_task_p95_ms']:8.1f} ms, "
        f"activity {figures['b_wait_p95_ms']:8.1f} ms, workflow task after the activity "
        f"{figures['b_after_activity_p95_ms']:8.1f} ms"
        + (f"\n{'':<13} starts refused with 429 and retried: {gate.refused}" if gate else "")
    )
    return figures


async def _measure(settings: Settings, args: argparse.Namespace) -> None:
    client = await Client.connect(settings.temporal_address or "")
    # A flood's hundreds of simultaneous bucket draws wait for one of the pool's connections rather than
    # failing open (redis-py's default pool refuses past 100 connections).
    redis = Redis(connection_pool=BlockingConnectionPool.from_url(settings.redis_url or "", timeout=60))
    a_jobs = args.jobs * args.ratio
    polling = {} if args.sdk_pollers else workflow_task_polling(settings)
    print(
        f"noisy neighbour: B {args.jobs} jobs, A {a_jobs} jobs, {args.slots} activity slots, workflow-task polls: "
        + ("the SDK's defaults" if args.sdk_pollers else ", ".join(f"{k}={v}" for k, v in polling.items()))
        + f", start queue in flight {settings.start_queue_in_flight}"
        + (f" (adaptive, at least {settings.start_queue_min_in_flight})" if settings.start_queue_adaptive else "")
    )
    await _run(client, "warmup", 5, 0, False, args.slots, polling=polling)
    alone = await _run(client, "alone", args.jobs, 0, False, args.slots, polling=polling)
    fifo = await _run(client, "fifo", args.jobs, a_jobs, False, args.slots, polling=polling)
    fair = await _run(client, "fair", args.jobs, a_jobs, True, args.slots, polling=polling)
    nosticky = await _run(client, "fair-nosticky", args.jobs, a_jobs, True, args.slots, sticky=False, polling=polling)
    # The gateway's start admission with its default settings, both tenants on the plan `--plan`.
    gate = Gate(StartAdmission(settings, redis), {t: TenantPlan.of(f"tenant-{t}", args.plan) for t in ("a", "b")})
    gated = await _run(client, "fair+gate", args.jobs, a_jobs, True, args.slots, gate=gate, polling=polling)
    print(f"              start queue width at the end: {gate.admission.queue.in_flight_limit}")
    await redis.aclose()
    base = max(alone["b_latency_p95_ms"], 0.001)
    base50 = max(alone["b_latency_p50_ms"], 0.001)
    print(
        f"B end-to-end p50/p95 alone {alone['b_latency_p50_ms']:.1f}/{alone['b_latency_p95_ms']:.1f} ms; "
        f"fair {fair['b_latency_p50_ms']:.1f}/{fair['b_latency_p95_ms']:.1f} ms "
        f"({fair['b_latency_p50_ms'] / base50:.1f}x/{fair['b_latency_p95_ms'] / base:.1f}x); "
        f"fair+gate {gated['b_latency_p50_ms']:.1f}/{gated['b_latency_p95_ms']:.1f} ms "
        f"({gated['b_latency_p50_ms'] / base50:.1f}x/{gated['b_latency_p95_ms'] / base:.1f}x)"
    )
    print(
        f"B end-to-end p95 vs alone: fifo {fifo['b_latency_p95_ms'] / base:.1f}x, "
        f"fair {fair['b_latency_p95_ms'] / base:.1f}x, fair without sticky queues "
        f"{nosticky['b_latency_p95_ms'] / base:.1f}x, fair+gate {gated['b_latency_p95_ms'] / base:.1f}x; "
        f"Jain fifo {fifo['jain']:.2f}, fair {fair['jain']:.2f}, fair+gate {gated['jain']:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10, help="tenant B's jobs")
    parser.add_argument("--ratio", type=int, default=50, help="tenant A submits this many times B's load")
    parser.add_argument("--slots", type=int, default=4, help="concurrent activities of the worker")
    parser.add_argument("--plan", default="pro", help="both tenants' plan in the fair+gate run (its start rate)")
    parser.add_argument(
        "--sdk-pollers",
        action="store_true",
        help="poll workflow tasks with the SDK's defaults instead of the platform's settings (the comparison)",
    )
    args = parser.parse_args(argv)
    with throwaway_stack("aiaas-bench-fair-") as settings:
        asyncio.run(_measure(settings, args))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
