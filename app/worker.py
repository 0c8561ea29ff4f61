"""`aiaas worker`: one process polling the platform's task queue with every workflow and activity."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.worker import Worker

from app.dr_schedule import ensure_dr_schedule
from app.drift_schedule import ensure_drift_schedule
from app.retention_schedule import ensure_retention_schedule
from app.worker_versioning import worker_deployment_config, worker_workflows
from core.events import EventBus
from core.logging import configure_logging
from core.metric_labels import configure_tenant_labels
from core.redis_clients import command_client
from core.settings import Settings, get_settings
from core.telemetry import configure_tracing
from db.codec import connect

if TYPE_CHECKING:
    from policies.metering import Metering

log = structlog.get_logger("aiaas.worker")


@dataclass
class WorkerDeps:
    client: Client
    worker: Worker
    metering: Metering


@asynccontextmanager
async def build_worker(settings: Settings, *, task_queue: str | None = None) -> AsyncIterator[WorkerDeps]:
    """A ready worker and the resources it owns, closed on exit. Tests use this as the entry point does."""
    from activities.approvals import ApprovalActivities
    from activities.billing import BillingActivities
    from activities.canary import CanaryActivities
    from activities.channels import ChannelActivities
    from activities.conversation import ConversationActivities
    from activities.dr_drill import DrDrillActivities
    from activities.drift import DriftActivities
    from activities.early_exit import EarlyExitActivities
    from activities.key_rotation import KeyRotationActivities
    from activities.model_call import ModelActivities
    from activities.privacy import PrivacyActivities
    from activities.resolve_agent import AgentActivities
    from activities.routing import RoutingActivities
    from activities.signup import SignupActivities
    from activities.tenant_lifecycle import TenantLifecycleActivities
    from activities.turn_cut import TurnCutActivities
    from activities.turn_lease import TurnLeaseActivities
    from activities.webhooks import WebhookActivities
    from agents.definitions import pinned_agent_names
    from app.tools import platform_registry, worker_tools
    from app.workflows import WORKFLOWS
    from billing.payments import build_processor
    from core.crypto import fields
    from core.crypto.secretbox import build_keyring
    from db.regions import open_database
    from evaluation.activities import EvalActivities
    from knowledge.backends import close_backend, forget_customer_documents, forget_tenant, open_backend
    from knowledge.ingest_activities import IngestActivities
    from knowledge.reembed_activities import ReembedActivities
    from policies.event_privacy import EventRedaction
    from policies.metering import build_metering
    from policies.privacy import PrivacyPolicies
    from tenancy.mail_delivery import build_sender

    db = open_database(settings)
    fields.configure(settings)  # transcripts and tool calls sealed with this process's KMS
    await open_backend(settings)  # knowledge: Weaviate when WEAVIATE_URL is set, failing the start if unreachable
    # The codec reads data keys through the worker's own pool and is closed with it.
    client = await connect(settings, db=db)
    # Nothing in a worker blocks on Redis, so every call gets the short command timeout.
    redis = command_client(settings)
    # Events other than the answer carry no value the tenant's privacy policy hides.
    redactor = EventRedaction(PrivacyPolicies(db))
    bus = EventBus(redis, maxlen=settings.event_retention, ttl_seconds=settings.event_ttl_seconds, redactor=redactor)
    conversation = ConversationActivities(db, bus)
    metering = build_metering(db, redis, bus, settings)
    registry = platform_registry()
    model = ModelActivities(db, bus, settings, registry, metering=metering, redis=redis)
    lifecycle = TenantLifecycleActivities(
        db, redis, client, Path(settings.data_dir) / "exports", forget_search_index=forget_tenant
    )
    tools = worker_tools(db, redis, bus, settings, metering, registry)
    drift = DriftActivities(db, bus)
    dr = DrDrillActivities(settings, WORKFLOWS, client.data_converter.payload_codec, bus)
    hooks = WebhookActivities(
        db,
        client,
        task_queue=task_queue or settings.task_queue,
        keyring=build_keyring(db, settings),
        allow_private_targets=settings.webhook_allow_private_targets,
    )
    billing = BillingActivities(db, redis, build_processor(db, settings))
    privacy = PrivacyActivities(
        db, redis, client, build_keyring(db, settings), forget_documents=forget_customer_documents(db)
    )
    channel_replies = ChannelActivities(
        db, keyring=build_keyring(db, settings), allow_private_targets=settings.channel_allow_private_targets
    )
    signup = SignupActivities(
        db, redis, client, settings, task_queue=task_queue or settings.task_queue, sender=build_sender(settings)
    )
    worker = Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=worker_workflows(settings, WORKFLOWS),
        activities=[
            conversation.record_user_message,
            conversation.complete_turn,
            conversation.turn_failed,
            ApprovalActivities(db, bus).record,
            TurnCutActivities(db, bus).turn_cut,
            TurnLeaseActivities(redis).release,
            model.complete,
            AgentActivities(db, registry, pinned_agents=pinned_agent_names(settings)).resolve,
            RoutingActivities(db, bus, settings, metering=metering).decide,
            *EarlyExitActivities(db, redis, bus, ttl_seconds=settings.router_early_exit_ttl_seconds).all(),
            lifecycle.mark_offboarding,
            lifecycle.stop_workflows,
            lifecycle.export_data,
            lifecycle.purge_redis,
            lifecycle.purge_database,
            drift.list_tenants,
            drift.analyse_tenant,
            dr.backup,
            dr.restore_verify,
            dr.record,
            dr.plan,
            *tools.activities,
            *IngestActivities(db, bus).all(),
            *ReembedActivities(db, bus).all(),
            hooks.publish,
            hooks.attempt,
            hooks.finish,
            *billing.all(),
            *privacy.all(),
            *KeyRotationActivities(db).all(),
            *EvalActivities(db, settings).all(),
            channel_replies.send_reply,
            *signup.all(),
            *CanaryActivities(db, bus).all(),
        ],
        max_concurrent_activities=200,
        max_concurrent_local_activities=200,
        graceful_shutdown_timeout=timedelta(seconds=10),
        # Heartbeats carry cancellation back to a streaming model call; an interrupted turn must stop
        # within about a second, not after the default throttle of up to a minute.
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        # A build id makes this worker one version of a worker deployment (safe deploys, docs/operations.md).
        deployment_config=worker_deployment_config(settings),
    )
    try:
        yield WorkerDeps(client=client, worker=worker, metering=metering)
    finally:
        await tools.close()
        await hooks.close()
        await channel_replies.close()
        await db.close()
        await redis.aclose()
        await close_backend(settings)


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
        log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
        await ensure_drift_schedule(deps.client, settings.task_queue)
        await ensure_retention_schedule(deps.client, settings.task_queue)
        await ensure_dr_schedule(deps.client, settings)
        # Reservations of attempts that died with their worker stop counting once expired; the sweep books them.
        sweep = asyncio.create_task(deps.metering.guard.sweep_forever(60.0))
        try:
            async with deps.worker:
                await stop.wait()
                log.info("worker stopping")
        finally:
            sweep.cancel()


def _run(args: argparse.Namespace) -> int:
    settings = get_settings().require()
    configure_logging(settings.log_level, json_output=settings.log_json)
    configure_tracing("aiaas-worker")
    configure_tenant_labels(settings.metrics_tenant_labels, settings.metrics_tenants)
    asyncio.run(run_worker(settings))
    return 0


def add_worker_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="run a worker for the platform's task queue")
    parser.set_defaults(func=_run)
