"""Start a tenant's `SubscriptionWorkflow`: on a trial, or straight into a paid period.

The run's id is `"{tenant}:subscription"` with a reject-duplicate policy, so a tenant has one subscription and
a repeated start is refused instead of making a second one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

from billing.prices import all_prices
from contracts.billing import (
    DEFAULT_DUNNING_DAYS,
    SubscriptionInput,
    SubscriptionState,
    SubscriptionStatus,
    add_month,
    subscription_workflow_id,
)
from contracts.names import WF_SUBSCRIPTION


def initial_state(
    tenant_id: str,
    plan: str,
    *,
    now: datetime,
    trial_days: int = 0,
    payment_method: str | None = None,
    tax_rate: Decimal = Decimal(0),
    credit_cents: int = 0,
    dunning_days: tuple[int, ...] = DEFAULT_DUNNING_DAYS,
) -> SubscriptionState:
    prices = all_prices()
    if plan not in prices:
        raise ValueError(f"unknown plan {plan!r}")
    if not Decimal(0) <= tax_rate < Decimal(1):
        raise ValueError("the tax rate must be in [0, 1)")
    trial_end = now + timedelta(days=trial_days) if trial_days > 0 else None
    return SubscriptionState(
        tenant_id=tenant_id,
        plan=plan,
        period_plan=plan,
        status=SubscriptionStatus.TRIALING if trial_end else SubscriptionStatus.ACTIVE,
        period_start=now,
        period_end=trial_end or add_month(now),
        trial_end=trial_end,
        payment_method=payment_method,
        tax_rate=str(tax_rate),
        credit_cents=credit_cents,
        dunning_days=dunning_days,
        plan_fees={name: price.base_fee_cents for name, price in prices.items()},
        # A trial's anchor is set when its first period starts (at the trial's end).
        anchor_day=0 if trial_end else now.day,
    )


async def start_subscription(client: Client, task_queue: str, state: SubscriptionState) -> WorkflowHandle:
    return await client.start_workflow(
        WF_SUBSCRIPTION,
        SubscriptionInput(state=state),
        id=subscription_workflow_id(state.tenant_id),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
