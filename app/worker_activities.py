"""Every activity the platform's workers run, built with the resources they need and closed with them.

Kept apart from `app.worker`, which decides how the worker runs (sandbox, cache, versioning), so each
file has one concern; the activities' modules are imported only when a worker is built.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client

from core.events import EventBus
from core.redis_clients import command_client
from core.settings import Settings

if TYPE_CHECKING:
    from db.database import Database
    from policies.metering import Metering


@dataclass
class ActivitySet:
    activities: list[Callable[..., Any]]
    metering: Metering


@asynccontextmanager
async def platform_activities(
    settings: Settings, db: Database, client: Client, task_queue: str
) -> AsyncIterator[ActivitySet]:
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
    from core.crypto.secretbox import build_keyring
    from evaluation.activities import EvalActivities
    from knowledge.backends import close_backend, forget_customer_documents, forget_tenant, open_backend
    from knowledge.ingest_activities import IngestActivities
    from knowledge.reembed_activities import ReembedActivities
    from policies.event_privacy import EventRedaction
    from policies.metering import build_metering
    from policies.privacy import PrivacyPolicies
    from tenancy.mail_delivery import build_sender

    await open_backend(settings)  # knowledge: Weaviate when WEAVIATE_URL is set, failing the start if unreachable
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
    activities: list[Callable[..., Any]] = [
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
        *CanaryActivities(db, bus, registry, pinned_agents=pinned_agent_names(settings)).all(),
    ]
    try:
        yield ActivitySet(activities=activities, metering=metering)
    finally:
        await tools.close()
        await hooks.close()
        await channel_replies.close()
        await redis.aclose()
        await close_backend(settings)
