"""`WebhookDeliveryWorkflow` with its real activities, real Postgres and a real receiver on loopback, on
Temporal's time-skipping server: the 75-hour retry schedule passes in seconds.

Checks the Standard Webhooks promises: every message is eventually delivered to a receiver that fails half
the requests, no message is accepted twice (deduplicated by `webhook-id`), every signature verifies with the
reference library, the schedule's delays (with at most 10 % jitter) are the specification's, `Retry-After`
stretches a delay, and 410 Gone disables the endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.webhooks import WebhookActivities
from contracts.webhooks import (
    RETRY_JITTER,
    RETRY_SCHEDULE,
    DeliveryStatus,
    PublishWebhookInput,
    WebhookDeliveryResult,
    WebhookEventType,
    delivery_workflow_id,
)
from core.crypto.keyring import Keyring
from db.database import Database
from tests.webhooks.endpoints import make_endpoint
from tests.webhooks.receiver import Receiver
from webhooks import management, store
from workflows.webhook_delivery import WebhookDeliveryWorkflow

MESSAGES = 12


async def _publish(acts: WebhookActivities, tenant_id: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        published = await acts.publish(
            PublishWebhookInput(
                tenant_id=tenant_id,
                event_type=WebhookEventType.INVOICE_CREATED,
                data={"invoice": i},
                idempotency_key=f"inv-{i}",
            )
        )
        ids.append(published.message_id)
    return ids


async def _timers(handle: WorkflowHandle) -> list[timedelta]:
    history = await handle.fetch_history()
    return [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]


async def _settled(env: WorkflowEnvironment, handles: list[WorkflowHandle[Any, WebhookDeliveryResult]]) -> list:
    """Each run's result, skipping the test server's clock only while every open run waits on its timer: a
    skip while an attempt or a workflow task is in flight would time it out."""
    for _ in range(5000):
        described = [await h.describe() for h in handles]
        running = [d.raw_description for d in described if d.status == WorkflowExecutionStatus.RUNNING]
        if not running:
            return [await h.result() for h in handles]
        if any(r.pending_activities or r.HasField("pending_workflow_task") for r in running):
            await asyncio.sleep(0.05)
        else:
            await env.sleep(timedelta(minutes=30))
    raise AssertionError("deliveries still running")


def _worker(env: WorkflowEnvironment, acts: WebhookActivities, queue: str) -> Worker:
    return Worker(
        env.client,
        task_queue=queue,
        workflows=[WebhookDeliveryWorkflow],
        activities=[acts.publish, acts.attempt, acts.finish],
    )


async def test_half_failing_receiver_gets_everything_once_and_signed(
    skipping_env: WorkflowEnvironment, db: Database, keyring: Keyring, tenant_id: str
) -> None:
    queue = f"hooks-{uuid.uuid4().hex[:6]}"
    acts = WebhookActivities(
        db, skipping_env.client, task_queue=queue, keyring=keyring, allow_private_targets=True, search_attributes=False
    )
    with Receiver() as receiver:
        endpoint, secret = await make_endpoint(db, keyring, tenant_id, receiver.url("/hooks"))
        async with _worker(skipping_env, acts, queue):
            message_ids = await _publish(acts, tenant_id, MESSAGES)
            # A retried publish (same idempotency keys) makes no second message and starts nothing new.
            assert await _publish(acts, tenant_id, MESSAGES) == message_ids
            results = await _settled(
                skipping_env,
                [
                    skipping_env.client.get_workflow_handle_for(
                        WebhookDeliveryWorkflow.run,
                        delivery_workflow_id(tenant_id, store.fan_out_delivery_id(m, endpoint.id)),
                    )
                    for m in message_ids
                ],
            )
    await acts.close()

    assert all(r.status == DeliveryStatus.DELIVERED for r in results)
    accepted = Counter(r.headers["webhook-id"] for r in receiver.received if r.status < 300)
    assert set(accepted) == set(message_ids), "every message delivered"
    assert max(accepted.values()) == 1, "no message accepted twice"
    assert sum(1 for r in receiver.received if r.status >= 500) >= MESSAGES // 2
    verifier = Webhook(secret)
    for got in receiver.received:
        payload = verifier.verify(got.body, got.headers)
        assert payload["type"] == "invoice.created"
    async with db.tenant_session(tenant_id) as session:
        delivery = await store.get_delivery(session, tenant_id, store.fan_out_delivery_id(message_ids[0], endpoint.id))
        attempts = await management.list_attempts(session, tenant_id, delivery.id if delivery else "")
    assert delivery is not None and delivery.status == "delivered"
    assert [a["outcome"] for a in attempts][-1] == "delivered"


async def test_full_schedule_then_failed_and_retry_after_and_gone(
    skipping_env: WorkflowEnvironment, db: Database, keyring: Keyring, tenant_id: str
) -> None:
    queue = f"hooks-{uuid.uuid4().hex[:6]}"
    acts = WebhookActivities(
        db, skipping_env.client, task_queue=queue, keyring=keyring, allow_private_targets=True, search_attributes=False
    )

    def plan(path: str, nth: int, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        if path == "/down":
            return 503, {}
        if path == "/slow":
            return (429, {"Retry-After": "7200"}) if nth == 1 else (200, {})
        return 410, {}

    with Receiver(plan) as receiver:
        down, _ = await make_endpoint(db, keyring, tenant_id, receiver.url("/down"))
        slow, _ = await make_endpoint(db, keyring, tenant_id, receiver.url("/slow"), ["trial.ending"])
        gone, _ = await make_endpoint(db, keyring, tenant_id, receiver.url("/gone"), ["invoice.created"])
        async with _worker(skipping_env, acts, queue):
            start = await skipping_env.get_current_time()
            (message_id,) = await _publish(acts, tenant_id, 1)
            trial = await acts.publish(
                PublishWebhookInput(
                    tenant_id=tenant_id, event_type=WebhookEventType.TRIAL_ENDING, data={}, idempotency_key="trial"
                )
            )
            assert trial.deliveries == 2  # `down` takes every type, `gone` only invoices
            handles = {
                name: skipping_env.client.get_workflow_handle_for(
                    WebhookDeliveryWorkflow.run, delivery_workflow_id(tenant_id, store.fan_out_delivery_id(msg, ep.id))
                )
                for name, msg, ep in (
                    ("down", message_id, down),
                    ("down_trial", trial.message_id, down),
                    ("slow", trial.message_id, slow),
                    ("gone", message_id, gone),
                )
            }
            results = dict(zip(handles, await _settled(skipping_env, list(handles.values())), strict=True))
            elapsed = await skipping_env.get_current_time() - start
            timers = {name: await _timers(h) for name, h in handles.items()}
    await acts.close()

    assert results["down"].status == DeliveryStatus.FAILED and results["down"].attempts == 10
    assert len(timers["down"]) == len(RETRY_SCHEDULE)
    for got, planned in zip(timers["down"], RETRY_SCHEDULE, strict=True):
        assert planned <= got <= planned * (1 + RETRY_JITTER)
    assert elapsed >= sum(RETRY_SCHEDULE, timedelta()), "the whole ~75 h schedule ran (on the skipped clock)"
    async with db.tenant_session(tenant_id) as session:
        logs = [
            await management.list_attempts(session, tenant_id, store.fan_out_delivery_id(m, down.id))
            for m in (message_id, trial.message_id)
        ]
    assert [a["status_code"] for a in logs[0]] == [503] * 10
    if os.environ.get("AIAAS_RECORD_WEBHOOK_HISTORIES"):
        # `tests/workflows/test_replay.py` replays these; record again only for a change that keeps them replaying.
        for name in ("slow", "gone"):
            history = await handles[name].fetch_history()
            path = Path(__file__).parents[1] / "workflows" / "histories" / f"webhook_delivery_{name}.json"
            path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    # The second run's attempts race the test server's clock skips: one may time out before it is sent (an
    # artefact of skipping time, which the run then counts as a failed attempt). Every one that went out is
    # logged.
    assert results["down_trial"].status == DeliveryStatus.FAILED and results["down_trial"].attempts == 10
    assert sum(1 for r in receiver.received if r.path == "/down") == sum(len(log) for log in logs) >= 19

    assert results["slow"].status == DeliveryStatus.DELIVERED and results["slow"].attempts == 2
    assert timers["slow"][0] >= timedelta(hours=2), "Retry-After stretched the 5 s delay"

    assert results["gone"].status == DeliveryStatus.FAILED and results["gone"].attempts == 1
    async with db.tenant_session(tenant_id) as session:
        after = await store.get_endpoint(session, tenant_id, gone.id)
    assert after is not None and not after.enabled and "410" in (after.disabled_reason or "")
    assert json.loads(receiver.received[0].body)["type"] in {"invoice.created", "trial.ending"}
