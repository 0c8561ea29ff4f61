"""`SubscriptionWorkflow` over three monthly periods on the time-skipping server, with real Postgres:

an upgrade now (prorated per second) and a downgrade at period end, a declined card with dunning, a worker
stopped and replaced in the middle of dunning, a new card that pays at once, a cancellation at period end.
Every invoice equals the independent oracle to the cent, numbers have no gaps, and no invoice is charged
twice (neither in our payments nor in the processor's book).
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from redis.asyncio import Redis
from temporalio.testing import WorkflowEnvironment

from billing.starter import initial_state, start_subscription
from contracts.billing import (
    PM_SANDBOX_DECLINED,
    PM_SANDBOX_OK,
    CancelRequest,
    ChangeTiming,
    PaymentMethodRequest,
    PlanChangeRequest,
    SubscriptionState,
    SubscriptionStatus,
)
from core.crypto.keyring import Keyring
from db.database import Database
from tests.billing.conftest import seed_usage
from tests.billing.cycle import advance, billing_worker, events, invoices, rows, state, tenant_status
from tests.billing.oracle import OracleChange, oracle_total

HISTORY = Path(__file__).parents[1] / "workflows" / "histories" / "subscription_first_period.json"


async def test_three_periods_with_dunning_a_restart_and_no_double_charge(
    skipping_env: WorkflowEnvironment, db: Database, redis: Redis, keyring: Keyring, tenant_id: str
) -> None:
    env = skipping_env
    queue = f"billing-{uuid.uuid4().hex[:6]}"
    t0 = (await env.get_current_time()).replace(microsecond=0)
    first = initial_state(
        tenant_id, "pro", now=t0, payment_method=PM_SANDBOX_DECLINED, tax_rate=Decimal("0.2"), credit_cents=500
    )
    p2 = first.period_end
    await seed_usage(db, tenant_id, t0 + timedelta(days=2), 12_000_000)
    await seed_usage(db, tenant_id, p2 + timedelta(days=3), 70_000_000)

    async with billing_worker(env, db, redis, keyring, queue):
        handle = await start_subscription(env.client, queue, first)
        await env.sleep(timedelta(hours=1))
        upgraded = await handle.execute_update(
            "change_plan", PlanChangeRequest(plan="enterprise", actor="user:a"), result_type=SubscriptionState
        )
        upgrade_at = upgraded.changes[-1].at
        await handle.execute_update(
            "change_plan",
            PlanChangeRequest(plan="pro", timing=ChangeTiming.PERIOD_END, actor="user:a"),
            result_type=SubscriptionState,
        )
        # The first period closes; the declined card fails at once and on the first dunning day.
        await advance(env, tenant_id, lambda: _failed_tries(db, tenant_id, 2))
        assert (await state(env, tenant_id)).status == SubscriptionStatus.PAST_DUE
    # A new worker (new activity objects, new pollers) takes over the open run.
    async with billing_worker(env, db, redis, keyring, queue):
        await handle.execute_update(
            "set_payment_method", PaymentMethodRequest(payment_method=PM_SANDBOX_OK, actor="user:a")
        )
        await advance(env, tenant_id, lambda: _paid(db, tenant_id, 1))
        assert (await state(env, tenant_id)).status == SubscriptionStatus.ACTIVE
        await advance(env, tenant_id, lambda: _paid(db, tenant_id, 2))
        await handle.execute_update("cancel", CancelRequest(actor="user:a"))
        await advance(env, tenant_id, lambda: _paid(db, tenant_id, 3))
        final = await env.client.get_workflow_handle(handle.id, result_type=SubscriptionState).result()

    got = await invoices(db, tenant_id)
    assert [r.number for r in got] == ["000001", "000002", "000003"], "gapless per tenant"
    tax = Fraction(2, 10)
    want1, left1 = oracle_total(
        start_plan="pro",
        end_plan="enterprise",
        start=t0,
        end=p2,
        tokens=12_000_000,
        changes=[OracleChange("pro", "enterprise", upgrade_at)],
        credit=500,
        tax=tax,
    )
    p3 = got[1].period_end
    want2, left2 = oracle_total(
        start_plan="pro", end_plan="pro", start=p2, end=p3, tokens=70_000_000, changes=[], credit=left1, tax=tax
    )
    want3, _ = oracle_total(
        start_plan="pro", end_plan="pro", start=p3, end=got[2].period_end, tokens=0, changes=[], credit=left2, tax=tax
    )
    assert [r.total_cents for r in got] == [want1, want2, want3]
    assert [r.tokens for r in got] == [12_000_000, 70_000_000, 0], "settled ledger rows only"
    assert all(r.status == "paid" for r in got)

    paid = await rows(db, tenant_id, "SELECT invoice_id FROM billing_payments WHERE tenant_id = :t AND succeeded")
    assert Counter(r[0] for r in paid) == {r.id: 1 for r in got}, "one successful payment per invoice"
    charged = await rows(
        db, tenant_id, "SELECT amount_cents FROM billing_sandbox_charges WHERE tenant_id = :t AND succeeded"
    )
    assert sorted(r[0] for r in charged) == sorted([want1, want2, want3]), "the processor moved each amount once"

    assert final.status == SubscriptionStatus.CANCELED and final.plan == "free"
    assert await tenant_status(db, tenant_id) == ("active", "free")
    seen = Counter(await events(db, tenant_id))
    assert seen["invoice.created"] == 3 and seen["payment.succeeded"] == 3
    assert seen["payment.failed"] == 2 and seen["subscription.updated"] == 2
    audited = await rows(
        db, tenant_id, "SELECT action FROM audit.events WHERE tenant_id = :t AND action LIKE 'subscription.%'"
    )
    actions = Counter(r[0] for r in audited)
    assert actions["subscription.plan_changed"] == 3  # up now, down scheduled, down applied at the close
    assert actions["subscription.payment_method_changed"] == 1 and actions["subscription.canceled"] == 1

    if os.environ.get("AIAAS_RECORD_SUBSCRIPTION_HISTORY"):
        history = await handle.fetch_history()
        HISTORY.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")


async def _failed_tries(db: Database, tenant_id: str, n: int) -> bool:
    got = await rows(db, tenant_id, "SELECT 1 FROM billing_payments WHERE tenant_id = :t AND NOT succeeded")
    return len(got) >= n


async def _paid(db: Database, tenant_id: str, n: int) -> bool:
    got = await rows(db, tenant_id, "SELECT 1 FROM invoices WHERE tenant_id = :t AND status = 'paid'")
    return len(got) >= n
