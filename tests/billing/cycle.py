"""Driving `SubscriptionWorkflow` on the time-skipping server: a worker with the real billing and webhook
activities, a clock that moves only while the run is idle, and reads of what the run left in Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.billing import BillingActivities
from activities.webhooks import WebhookActivities
from billing.payments import SandboxProcessor
from contracts.billing import SubscriptionState, subscription_workflow_id
from core.crypto.keyring import Keyring
from db.database import Database
from workflows.subscription import SubscriptionWorkflow


@asynccontextmanager
async def billing_worker(env: WorkflowEnvironment, db: Database, redis: Redis, keyring: Keyring, queue: str):  # type: ignore[no-untyped-def]
    hooks = WebhookActivities(
        db, env.client, task_queue=queue, keyring=keyring, allow_private_targets=True, search_attributes=False
    )
    acts = BillingActivities(db, redis, SandboxProcessor(db))
    try:
        # No sticky cache: every workflow task replays the run from its history (a determinism check on each
        # step), and a worker's exit leaves no sticky queue for the test server's frozen clock to time out.
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[SubscriptionWorkflow],
            activities=[*acts.all(), hooks.publish],
            max_cached_workflows=0,
        ):
            yield
    finally:
        await hooks.close()


async def settle(handle: WorkflowHandle[Any, Any], *, limit: int = 1200) -> None:
    """Wait until the run has no workflow task and no activity outstanding. The test server's clock only moves
    while the test skips time, so a settled run stays put: a query sent now is answered by the run it reaches,
    not buffered behind a task that continues the run as new (the test server never answers such a query)."""
    for _ in range(limit):
        raw = (await handle.describe()).raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the subscription never settled")


async def advance(
    env: WorkflowEnvironment,
    tenant_id: str,
    until: Callable[[], Awaitable[bool]],
    *,
    step: timedelta = timedelta(hours=12),
    limit: int = 400,
) -> None:
    """Skip the clock `step` at a time, only while the run waits on a timer, until `until()` holds."""
    handle = env.client.get_workflow_handle(subscription_workflow_id(tenant_id))
    for _ in range(limit):
        await settle(handle)
        if await until():
            return
        await env.sleep(step)
    raise AssertionError("the subscription never got there")


async def state(env: WorkflowEnvironment, tenant_id: str) -> SubscriptionState:
    """The run's state, asked of a settled run. On a busy machine the test server now and then never hands a
    query task to the worker right after the run continued as new (the run idle on its timer, nothing
    outstanding); the same query asked again is answered at once, so a query unanswered in 10 s (timed out by
    the client or the server) is asked again."""
    handle: WorkflowHandle[Any, Any] = env.client.get_workflow_handle(subscription_workflow_id(tenant_id))
    await settle(handle)
    for _ in range(5):
        try:
            return await handle.query("state", result_type=SubscriptionState, rpc_timeout=timedelta(seconds=10))
        except RPCError as err:
            if err.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
                raise
    raise AssertionError("the subscription never answered its state query")


async def rows(db: Database, tenant_id: str, sql: str) -> list[Any]:
    async with db.tenant_session(tenant_id) as session:
        return list((await session.execute(text(sql), {"t": tenant_id})).all())


async def invoices(db: Database, tenant_id: str) -> list[Any]:
    return await rows(
        db,
        tenant_id,
        "SELECT id, number, total_cents, status, period_start, period_end, tokens, credit_used_cents"
        " FROM invoices WHERE tenant_id = :t ORDER BY number",
    )


async def events(db: Database, tenant_id: str) -> list[str]:
    got = await rows(db, tenant_id, "SELECT event_type FROM webhook_messages WHERE tenant_id = :t ORDER BY created_at")
    return [r[0] for r in got]


async def tenant_status(db: Database, tenant_id: str) -> tuple[str, str]:
    async with db.tenant_session(tenant_id) as session:
        row = (await session.execute(text("SELECT status, plan FROM tenants WHERE id = :t"), {"t": tenant_id})).one()
    return row[0], row[1]
