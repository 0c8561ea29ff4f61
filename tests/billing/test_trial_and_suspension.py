"""A trial that reminds and converts, a card declined through a short dunning schedule that suspends the
tenant through its lifecycle state machine, and a new card that pays the open invoice and resumes it; then a
trial without a payment method that expires into suspension and resumes with a first period."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

from redis.asyncio import Redis
from temporalio.testing import WorkflowEnvironment

from billing.starter import initial_state, start_subscription
from contracts.billing import PM_SANDBOX_DECLINED, PM_SANDBOX_OK, PaymentMethodRequest, SubscriptionStatus
from core.crypto.keyring import Keyring
from core.settings import Settings
from db.database import Database
from tests.billing.conftest import new_tenant
from tests.billing.cycle import advance, billing_worker, events, invoices, rows, state, tenant_status


async def test_trial_converts_dunning_suspends_and_payment_resumes(
    skipping_env: WorkflowEnvironment, db: Database, redis: Redis, keyring: Keyring, migrated: Settings
) -> None:
    env = skipping_env
    queue = f"billing-{uuid.uuid4().hex[:6]}"
    converting, expiring = await new_tenant(db, migrated), await new_tenant(db, migrated)
    now = (await env.get_current_time()).replace(microsecond=0)
    async with billing_worker(env, db, redis, keyring, queue):
        await start_subscription(
            env.client,
            queue,
            initial_state(
                converting, "pro", now=now, trial_days=14, payment_method=PM_SANDBOX_DECLINED, dunning_days=(1, 2)
            ),
        )
        await start_subscription(env.client, queue, initial_state(expiring, "pro", now=now, trial_days=7))

        async def suspended(tenant: str) -> bool:
            return (await state(env, tenant)).status == SubscriptionStatus.SUSPENDED

        await advance(env, expiring, lambda: suspended(expiring), step=timedelta(days=1))
        assert await tenant_status(db, expiring) == ("suspended", "pro")
        await advance(env, converting, lambda: suspended(converting), step=timedelta(days=1))
        assert await tenant_status(db, converting) == ("suspended", "pro")
        (invoice,) = await invoices(db, converting)
        assert invoice.status == "open"
        tries = await rows(db, converting, "SELECT idempotency_key FROM billing_payments WHERE tenant_id = :t")
        assert sorted(r[0].rsplit(":", 1)[1] for r in tries) == ["try0", "try1", "try2"]

        for tenant in (converting, expiring):
            handle = env.client.get_workflow_handle(f"{tenant}:subscription")
            await handle.execute_update(
                "set_payment_method", PaymentMethodRequest(payment_method=PM_SANDBOX_OK, actor="user:owner")
            )

        async def active(tenant: str) -> bool:
            return (await state(env, tenant)).status == SubscriptionStatus.ACTIVE

        await advance(env, converting, lambda: active(converting))
        await advance(env, expiring, lambda: active(expiring))
        resumed = await state(env, expiring)
    assert await tenant_status(db, converting) == ("active", "pro")
    assert await tenant_status(db, expiring) == ("active", "pro")
    (paid,) = await invoices(db, converting)
    assert paid.status == "paid" and paid.id == invoice.id
    # The converted trial's first period started at the trial's end; the expired one's at its resumption.
    assert paid.period_start == now + timedelta(days=14)
    assert resumed.period_start > now + timedelta(days=7)
    assert await invoices(db, expiring) == []
    seen = Counter(await events(db, converting))
    assert seen["trial.ending"] == 1 and seen["trial.ended"] == 1
    assert seen["payment.failed"] == 3 and seen["subscription.suspended"] == 1
    assert seen["payment.succeeded"] == 1 and seen["subscription.resumed"] == 1
    assert Counter(await events(db, expiring))["subscription.suspended"] == 1
