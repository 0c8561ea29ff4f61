"""`aiaas worker`: one process polling the platform's task queue, with every workflow and activity by default.

`--role workflows` runs the workflows and the local activities they call, and takes no activity task from the
queue; `--role activities` runs every activity and no workflow. Workers of both roles on one queue serve
what one `all` worker serves, and a workflows worker stays small (docs/architecture.md, "Worker memory").
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from app.dr_schedule import ensure_dr_schedule
from app.drift_schedule import ensure_drift_schedule
from app.retention_schedule import ensure_retention_schedule
from app.worker_versioning import worker_deployment_config, worker_workflows
from core.logging import configure_logging
from core.metric_labels import configure_tenant_labels
from core.settings import Settings, get_settings
from core.telemetry import configure_tracing
from db.codec import connect

if TYPE_CHECKING:
    from policies.metering import Metering

log = structlog.get_logger("aiaas.worker")
# Imported once per worker process and shared by every workflow run when `workflow_sandbox_shared` is on.
SHARED_WORKFLOW_MODULES = ("workflows", "contracts")


@dataclass
class WorkerDeps:
    client: Client
    worker: Worker
    metering: Metering


def _workflow_runner(settings: Settings) -> SandboxedWorkflowRunner:
    """The sandbox every workflow runs in. `workflow_sandbox_shared` (default) imports the platform's own
    workflow modules once per process instead of once per workflow run: that copy is most of what an open
    conversation costs the worker (docs/architecture.md, "Worker memory"). Calls to
    non-deterministic builtins stay refused either way, and the replay tests guard the rest."""
    restrictions = SandboxRestrictions.default
    if settings.workflow_sandbox_shared:
        restrictions = restrictions.with_passthrough_modules(*SHARED_WORKFLOW_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def workflow_task_polling(settings: Settings) -> dict[str, Any]:
    """How the worker polls for workflow tasks: at most `worker_workflow_task_pollers` polls at once, a share
    `worker_nonsticky_poll_ratio` of them on the shared task queue and the rest on this worker's sticky queue
    (the later tasks of the runs it keeps cached).

    Every run's first task (a new conversation, a new job) is on the shared queue, where priority and fairness
    keys order it; it still waits for a shared-queue poll. The SDK's default gives that queue one poll in five,
    so a queue the fairness keys had already put in the right order was served one task per round trip while
    a neighbour's flood filled it (docs/architecture.md, "Admission of starts")."""
    return {
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(settings.worker_workflow_task_pollers),
        "nonsticky_to_sticky_poll_ratio": settings.worker_nonsticky_poll_ratio,
    }


@asynccontextmanager
async def build_worker(settings: Settings, *, task_queue: str | None = None) -> AsyncIterator[WorkerDeps]:
    """A ready worker of `settings.worker_role` and the resources it owns, closed on exit. Tests use this as
    the entry point does."""
    from app.worker_activities import platform_activities
    from app.workflows import WORKFLOWS
    from core.crypto import fields
    from db.regions import open_database

    queue = task_queue or settings.task_queue
    role = settings.worker_role
    db = open_database(settings)
    fields.configure(settings)  # transcripts and tool calls sealed with this process's KMS
    try:
        # The codec reads data keys through the worker's own pool and is closed with it.
        client = await connect(settings, db=db)
        async with platform_activities(settings, db, client, queue, role=role) as activities:
            worker = Worker(
                client,
                task_queue=queue,
                workflows=[] if role == "activities" else worker_workflows(settings, WORKFLOWS),
                activities=activities.activities,
                # The local activities run in the worker that runs the workflow, whatever this flag says.
                no_remote_activities=role == "workflows",
                workflow_runner=_workflow_runner(settings),
                max_cached_workflows=settings.workflow_cache_size,
                **workflow_task_polling(settings),
                max_concurrent_activities=200,
                max_concurrent_local_activities=200,
                graceful_shutdown_timeout=timedelta(seconds=10),
                # Heartbeats carry cancellation back to a streaming model call; an interrupted turn must stop
                # within about a second, not after the default throttle of up to a minute.
                max_heartbeat_throttle_interval=timedelta(seconds=1),
                # A build id makes this worker one version of a worker deployment (safe deploys,
                # docs/operations.md).
                deployment_config=worker_deployment_config(settings),
            )
            yield WorkerDeps(client=client, worker=worker, metering=activities.metering)
    finally:
        await db.close()


async def run_worker(settings: Settings) -> None:
    async with build_worker(settings) as deps:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if settings.worker_metrics_port is not None:
            # Tool calls, model calls, spend, loop cuts and finished turns are counted here, not in the gateway.
            start_http_server(settings.worker_metrics_port, addr=settings.host)
            log.info("worker metrics", url=f"http://{settings.host}:{settings.worker_metrics_port}/metrics")
        log.info(
            "worker started",
            task_queue=settings.task_queue,
            role=settings.worker_role,
            temporal=settings.temporal_address,
        )
        await ensure_drift_schedule(deps.client, settings.task_queue)
        await ensure_retention_schedule(deps.client, settings.task_queue)
        await ensure_dr_schedule(deps.client, settings)
        await _warm_router_embedding(settings)
        # Reservations of attempts that died with their worker stop counting once expired; the sweep books them.
        sweep = asyncio.create_task(deps.metering.guard.sweep_forever(60.0))
        try:
            async with deps.worker:
                await stop.wait()
                log.info("worker stopping")
        finally:
            sweep.cancel()


async def _warm_router_embedding(settings: Settings) -> None:
    """The static embedding's table loads in the background when a router reads it (app/router_warmup.py)."""
    from app.router_warmup import warm_router_embedding
    from router.classifier import PassClassifier
    from router.static_embedding import shared

    global_reads = PassClassifier.load(settings.router_artefact or None).reads_embedding
    await warm_router_embedding(settings, shared(), global_reads=global_reads)


def _run(args: argparse.Namespace) -> int:
    settings = get_settings().require()
    if args.role is not None:
        settings = settings.model_copy(update={"worker_role": args.role})
    configure_logging(settings.log_level, json_output=settings.log_json)
    configure_tracing("aiaas-worker")
    configure_tenant_labels(settings.metrics_tenant_labels, settings.metrics_tenants)
    asyncio.run(run_worker(settings))
    return 0


def add_worker_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="run a worker for the platform's task queue")
    parser.add_argument(
        "--role",
        choices=("all", "workflows", "activities"),
        default=None,
        help="what this process runs: every workflow and activity (all, the default; AIAAS_WORKER_ROLE), the "
        "workflows and their local activities only (workflows), or the other activities only (activities)",
    )
    parser.set_defaults(func=_run)
