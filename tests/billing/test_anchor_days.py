"""Billing anchors: a subscription keeps the day of the month it started on (Jan 31 -> Feb 28/29 -> Mar 31),
in `add_month` against the calendar oracle, and in the periods a real `SubscriptionWorkflow` closes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis
from temporalio.testing import WorkflowEnvironment

from billing.starter import initial_state, start_subscription
from contracts.billing import PM_SANDBOX_OK, add_month
from core.crypto.keyring import Keyring
from db.database import Database
from tests.billing.cycle import advance, billing_worker, invoices
from tests.billing.oracle import oracle_period_ends


def _chain(start: datetime, n: int, anchor: int | None) -> list[datetime]:
    ends, at = [], start
    for _ in range(n):
        at = add_month(at, anchor)
        ends.append(at)
    return ends


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 1, 31, 9, 30, tzinfo=UTC),
        datetime(2027, 12, 31, tzinfo=UTC),  # through the leap February of 2028
        datetime(2026, 1, 30, tzinfo=UTC),
        datetime(2026, 1, 29, tzinfo=UTC),
        datetime(2026, 5, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 3, 15, tzinfo=UTC),
    ],
)
def test_anchor_matches_the_calendar_oracle(start: datetime) -> None:
    assert _chain(start, 24, start.day) == oracle_period_ends(start, 24)


def test_the_anchor_comes_back_after_a_short_month() -> None:
    days = [d.date().isoformat() for d in _chain(datetime(2027, 12, 31, tzinfo=UTC), 4, 31)]
    assert days == ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]
    # Without an anchor (runs started before anchors) each end's own day counts, as before.
    assert add_month(datetime(2026, 2, 28, tzinfo=UTC)) == datetime(2026, 3, 28, tzinfo=UTC)


def test_a_new_subscription_is_anchored_on_its_start_day() -> None:
    now = datetime(2026, 1, 31, tzinfo=UTC)
    assert initial_state("t", "pro", now=now).anchor_day == 31
    assert initial_state("t", "pro", now=now, trial_days=14).anchor_day == 0, "set when the trial converts"


async def test_the_workflow_closes_anchored_periods(
    skipping_env: WorkflowEnvironment, db: Database, redis: Redis, keyring: Keyring, tenant_id: str
) -> None:
    start = datetime(2026, 1, 31, 12, tzinfo=UTC)  # in the past: the run closes period after period at once
    queue = f"anchor-{uuid.uuid4().hex[:6]}"
    state = initial_state(tenant_id, "pro", now=start, payment_method=PM_SANDBOX_OK)

    async def four_invoices() -> bool:
        return len(await invoices(db, tenant_id)) >= 4

    async with billing_worker(skipping_env, db, redis, keyring, queue):
        handle = await start_subscription(skipping_env.client, queue, state)
        await advance(skipping_env, tenant_id, four_invoices)
        await handle.terminate("test over")
    got = (await invoices(db, tenant_id))[:4]
    assert [r.period_end for r in got] == oracle_period_ends(start, 4)
    assert [r.period_end.date().isoformat() for r in got] == ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]
    assert [r.period_start for r in got[1:]] == [r.period_end for r in got[:3]], "periods follow without a gap"
