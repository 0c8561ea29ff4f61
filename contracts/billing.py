"""Subscriptions: the state `SubscriptionWorkflow` carries from period to period, its updates, and the inputs
and results of the billing activities.

Money is in integer cents everywhere. A subscription's state is data (`SubscriptionState`) so that it survives
continue-as-new at each period close unchanged, and so the database projection and the API show the same
thing the workflow holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field, field_validator
from temporalio.common import RetryPolicy

from contracts.base import Frozen

# Stripe's Smart Retries default: 8 tries within 2 weeks. The first try is at the period close, these are
# the days after it on which the 7 others happen.
DEFAULT_DUNNING_DAYS: tuple[int, ...] = (1, 2, 4, 6, 8, 11, 14)
MAX_DUNNING_DAYS = 27  # all retries end before the next period closes (months have 28 days or more)
DEFAULT_TRIAL_DAYS = 14
TRIAL_REMINDER = timedelta(days=3)
# The sandbox processor's test payment methods, named after Stripe's test cards.
PM_SANDBOX_OK = "pm_card_visa"
PM_SANDBOX_DECLINED = "pm_card_chargeDeclined"

BILLING_START_TO_CLOSE = timedelta(seconds=30)
# A charge talks to a processor: longer, and retried with the same idempotency key, so never twice.
CHARGE_START_TO_CLOSE = timedelta(seconds=60)
BILLING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
    non_retryable_error_types=["InvalidBillingInput"],
)


class SubscriptionStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    # The last invoice is unpaid and dunning runs.
    PAST_DUE = "past_due"
    # Dunning ran out (or the trial expired without a payment method): the tenant is suspended.
    SUSPENDED = "suspended"
    CANCELED = "canceled"


class ChangeTiming(StrEnum):
    NOW = "now"
    PERIOD_END = "period_end"


class PlanChange(Frozen):
    """A change made "now" inside a period; the period close prorates it per second (`billing.period`)."""

    from_plan: str
    to_plan: str
    at: datetime


class SubscriptionState(Frozen):
    tenant_id: str
    plan: str
    status: SubscriptionStatus
    period_start: datetime
    period_end: datetime
    trial_end: datetime | None = None
    payment_method: str | None = None
    tax_rate: str = "0"  # a decimal string, exact
    credit_cents: int = Field(default=0, ge=0)
    # The plan in force when the period began (its base fee is charged) and the changes made since.
    period_plan: str = ""
    changes: list[PlanChange] = Field(default_factory=list)
    pending_plan: str | None = None
    cancel_at_period_end: bool = False
    open_invoice_id: str | None = None
    open_invoice_cents: int = 0
    # Base fee per plan, as the subscription was priced: tells an upgrade from a downgrade in the workflow.
    plan_fees: dict[str, int] = Field(default_factory=dict)
    # Counts payment method changes: each one gets its own charge idempotency key.
    payment_method_changes: int = 0
    dunning_days: tuple[int, ...] = DEFAULT_DUNNING_DAYS
    # Events already published are keyed by these, so a continued run announces nothing twice.
    periods_closed: int = 0
    # The billing anchor: the day of the month periods end on (the first paid period's start day; clamped to
    # shorter months and restored after them). 0, as in runs started before anchors: each end's own day.
    anchor_day: int = Field(default=0, ge=0, le=31)

    @field_validator("dunning_days")
    @classmethod
    def _dunning(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if list(days) != sorted(set(days)) or any(d < 1 or d > MAX_DUNNING_DAYS for d in days):
            raise ValueError(f"dunning days must rise strictly within 1..{MAX_DUNNING_DAYS}")
        return days


class SubscriptionInput(Frozen):
    state: SubscriptionState


class PlanChangeRequest(Frozen):
    plan: str
    timing: ChangeTiming = ChangeTiming.NOW
    actor: str = Field(min_length=1, max_length=255)


class CancelRequest(Frozen):
    actor: str = Field(min_length=1, max_length=255)
    # False takes back a cancellation at period end.
    cancel: bool = True


class PaymentMethodRequest(Frozen):
    payment_method: str = Field(min_length=3, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$")
    actor: str = Field(min_length=1, max_length=255)


class ClosePeriodInput(Frozen):
    tenant_id: str
    start_plan: str
    plan: str
    period_start: datetime
    period_end: datetime
    tax_rate: str
    credit_cents: int
    changes: list[PlanChange] = Field(default_factory=list)
    base_fee: bool = True


class InvoiceSummary(Frozen):
    invoice_id: str
    number: str
    total_cents: int
    credit_used_cents: int
    # The balance after this invoice: what came in, plus downgrade credits of the period, less what was used.
    credit_left_cents: int
    status: str
    # False when a retried close found the invoice an earlier attempt made.
    created: bool = True


class ChargeInput(Frozen):
    tenant_id: str
    invoice_id: str
    amount_cents: int = Field(ge=0)
    payment_method: str | None
    # One per try of the dunning schedule; a retried activity sends the same one to the processor.
    idempotency_key: str


class ChargeResult(Frozen):
    succeeded: bool
    reference: str | None = None
    error: str | None = None
    # True when the invoice had been paid already: nothing was charged.
    already_paid: bool = False


class SetTenantStatusInput(Frozen):
    tenant_id: str
    suspended: bool
    reason: str


class RecordSubscriptionInput(Frozen):
    state: SubscriptionState
    # An audit event in the tenant's chain, once per key; empty: only the projection is written.
    audit_action: str = ""
    audit_actor: str = "system:billing"
    audit_key: str = ""
    audit_details: dict[str, str | int | bool | None] = Field(default_factory=dict)


def subscription_workflow_id(tenant_id: str) -> str:
    return f"{tenant_id}:subscription"


def add_month(moment: datetime, anchor_day: int | None = None) -> datetime:
    """The same day and time next month, on the month's last day when it is shorter (Jan 31 -> Feb 28).

    With `anchor_day` (the subscription's billing anchor) the day is the anchor's wherever the month has it,
    so a clamped date comes back: Jan 31 -> Feb 28 (29 in a leap year) -> Mar 31 -> Apr 30 -> May 31."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    days = [
        31,
        29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ]
    return moment.replace(year=year, month=month, day=min(anchor_day or moment.day, days[month - 1]))
