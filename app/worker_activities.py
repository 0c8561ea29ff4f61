"""Every activity the platform's workers run, built with the resources they need and closed with them.

Kept apart from `app.worker`, which decides how the worker runs (sandbox, cache, versioning), so each
file has one concern; the activities' modules are imported only when a worker is built.

Two sets: the conversation's bookkeeping, which workflows call as local activities (so the worker that runs
the workflow runs them too), and the rest (model calls, tools, ingest, billing, ...). A workflows-role worker
builds only the first and so never imports litellm, the tool connectors or the knowledge backends; every
other role builds both (docs/architecture.md, "Worker memory").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from temporalio.client import Client

from core.events import EventBus
from core.redis_clients import command_client
from core.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from agents.sdk import ToolRegistry
    from db.database import Database
    from policies.metering import Metering

WorkerRole = Literal["all", "workflows", "activities"]


@dataclass
class ActivitySet:
    activities: list[Callable[..., Any]]
    metering: Metering


@asynccontextmanager
async def platform_activities(
    settings: Settings, db: Database, client: Client, task_queue: str, *, role: WorkerRole = "all"
) -> AsyncIterator[ActivitySet]:
    """The activities a worker of `role` registers: the conversation's local activities alone for
    "workflows", every activity otherwise (some of the local ones are also called as ordinary activities,
    by the intake's record-after-accept, the eval runs and the sagas)."""
    from app.tools import platform_registry
    from policies.event_privacy import EventRedaction
    from policies.metering import build_metering
    from policies.privacy import PrivacyPolicies

    # Nothing in a worker blocks on Redis, so every call gets the short command timeout.
    redis = command_client(settings)
    try:
        # Events other than the answer carry no value the tenant's privacy policy hides.
        redactor = EventRedaction(PrivacyPolicies(db))
        bus = EventBus(
            redis, maxlen=settings.event_retention, ttl_seconds=settings.event_ttl_seconds, redactor=redactor
        )
        metering = build_metering(db, redis, bus, settings)
        registry = platform_registry()
        local = conversation_activities(settings, db, redis, bus, metering, registry)
        if role == "workflows":
            yield ActivitySet(activities=local, metering=metering)
            return
        async with _remote_activities(settings, db, client, task_queue, redis, bus, metering, registry) as remote:
            yield ActivitySet(activities=[*local, *remote], metering=metering)
    finally:
        await redis.aclose()


def conversation_activities(
    settings: Settings, db: Database, redis: Redis, bus: EventBus, metering: Metering, registry: ToolRegistry
) -> list[Callable[..., Any]]:
    """Every activity a conversation's workflows run as a local activity (`workflows/turn_io.run_local`)."""
    from activities.approvals import ApprovalActivities
    from activities.conversation import ConversationActivities
    from activities.early_exit import EarlyExitActivities
    from activities.resolve_agent import AgentActivities
    from activities.routing import RoutingActivities
    from activities.turn_cut import TurnCutActivities
    from activities.turn_lease import TurnLeaseActivities
    from activities.turn_steps import TurnStepActivities
    from agents.definitions import pinned_agent_names
    from app.tools import tool_bookkeeping

    conversation = ConversationActivities(db, bus)
    lease = TurnLeaseActivities(redis)
    routing = RoutingActivities(db, bus, settings, metering=metering)
    early = EarlyExitActivities(db, redis, bus, ttl_seconds=settings.router_early_exit_ttl_seconds)
    agents = AgentActivities(db, registry, pinned_agents=pinned_agent_names(settings))
    steps = TurnStepActivities(agents, early, routing, conversation, lease)
    return [
        conversation.record_user_message,
        conversation.complete_turn,
        conversation.turn_failed,
        ApprovalActivities(db, bus).record,
        TurnCutActivities(db, bus).turn_cut,
        lease.release,
        agents.resolve,
        routing.decide,
        *early.all(),
        steps.prepare,
        steps.finish,
        *tool_bookkeeping(db, bus, registry),
    ]


@asynccontextmanager
async def _remote_activities(
    settings: Settings,
    db: Database,
    client: Client,
    task_queue: str,
    redis: Redis,
    bus: EventBus,
    metering: Metering,
    registry: ToolRegistry,
) -> AsyncIterator[list[Callable[..., Any]]]:
    """The activities that run on any worker polling the queue for activity tasks, with what they hold."""
    from activities.billing import BillingActivities
    from activities.canary import CanaryActivities
    from activities.channels import ChannelActivities
    from activities.dr_drill import DrDrillActivities
    from activities.drift import DriftActivities
    from activities.key_rotation import KeyRotationActivities
    from activities.model_call import ModelActivities
    from activities.privacy import PrivacyActivities
    from activities.signup import SignupActivities
    from activities.tenant_lifecycle import TenantLifecycleActivities
    from activities.webhooks import WebhookActivities
    from agents.definitions import pinned_agent_names
    from app.tools import worker_tools
    from app.workflows import WORKFLOWS
    from billing.payments import build_processor
    from core.crypto.secretbox import build_keyring
    from evaluation.activities import EvalActivities
    from knowledge.backends import close_backend, forget_customer_documents, forget_tenant, open_backend
    from knowledge.ingest_activities import IngestActivities
    from knowledge.reembed_activities import ReembedActivities
    from policies.erasure.signing import ReportSigner
    from tenancy.mail_delivery import build_sender

    await open_backend(settings)  # knowledge: Weaviate when WEAVIATE_URL is set, failing the start if unreachable
    try:
        model = ModelActivities(db, bus, settings, registry, metering=metering, redis=redis)
        lifecycle = TenantLifecycleActivities(
            db, redis, client, Path(settings.data_dir) / "exports", forget_search_index=forget_tenant
        )
        tools = worker_tools(db, redis, bus, settings, metering, registry, bookkeeping=False)
        drift = DriftActivities(db, bus)
        dr = DrDrillActivities(settings, WORKFLOWS, client.data_converter.payload_codec, bus)
        hooks = WebhookActivities(
            db,
            client,
            task_queue=task_queue,
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
        signup = SignupActivities(db, redis, client, settings, task_queue=task_queue, sender=build_sender(settings))
        try:
            yield [
                model.complete,
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
                *KeyRotationActivities(db, audit_signer=ReportSigner(build_keyring(db, settings))).all(),
                *EvalActivities(db, settings).all(),
                channel_replies.send_reply,
                *signup.all(),
                *CanaryActivities(db, bus, registry, pinned_agents=pinned_agent_names(settings)).all(),
            ]
        finally:
            await tools.close()
            await hooks.close()
            await channel_replies.close()
    finally:
        await close_backend(settings)
