"""The subscription's state rules, as pure functions of `SubscriptionState` for `SubscriptionWorkflow`.

Kept apart from the workflow so the rules (what a closed period, a resumption or a plan change leaves behind,
and which changes are refused) read without the timers, activities and handlers around them. Nothing here
makes a command: the workflow passes in the time and the invoice it got.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.billing import (
        ChangeTiming,
        InvoiceSummary,
        PlanChange,
        PlanChangeRequest,
        SubscriptionState,
        SubscriptionStatus,
        add_month,
    )

Status = SubscriptionStatus
CANCELED_PLAN = "free"


def new_period(s: SubscriptionState, start: datetime, status: SubscriptionStatus) -> SubscriptionState:
    """A first period starting at `start` (a converted trial, or a resumed one that never closed a period)."""
    return s.model_copy(
        update={
            "status": status,
            "period_start": start,
            "period_end": add_month(start),
            "period_plan": s.plan,
            "anchor_day": start.day,
        }
    )


def after_close(s: SubscriptionState, invoice: InvoiceSummary) -> SubscriptionState:
    """The next period's state once the period `s` ran has been closed into `invoice`."""
    plan = s.pending_plan or s.plan
    canceled = s.cancel_at_period_end
    return s.model_copy(
        update={
            "plan": CANCELED_PLAN if canceled else plan,
            "period_plan": plan,
            "period_start": s.period_end,
            "period_end": add_month(s.period_end, s.anchor_day or None),
            "changes": [],
            "pending_plan": None,
            "credit_cents": invoice.credit_left_cents,
            "open_invoice_id": invoice.invoice_id if invoice.status == "open" else None,
            "open_invoice_cents": invoice.total_cents if invoice.status == "open" else 0,
            "periods_closed": s.periods_closed + 1,
            "status": Status.CANCELED if canceled else s.status,
        }
    )


def resumed(s: SubscriptionState, now: datetime) -> SubscriptionState:
    """The state of a suspended subscription whose open invoice has just been paid."""
    if s.periods_closed == 0:  # a trial that expired: the first period starts now
        return new_period(s, now, Status.ACTIVE)
    # the suspended stretch belongs to the period that was running
    end = s.period_end if s.period_end > now else add_month(now)
    anchor = s.anchor_day if s.period_end > now or not s.anchor_day else end.day
    return s.model_copy(update={"status": Status.ACTIVE, "period_end": end, "anchor_day": anchor})


def validate_plan_change(s: SubscriptionState, req: PlanChangeRequest) -> None:
    """Refuse (ValueError, so the update never enters history) a change the subscription cannot take."""
    if s.status in (Status.CANCELED, Status.SUSPENDED):
        raise ValueError(f"a {s.status.value} subscription cannot change plan")
    if req.plan not in s.plan_fees:
        raise ValueError(f"unknown plan {req.plan!r}")
    if req.plan == s.plan and (req.timing == ChangeTiming.NOW or s.pending_plan is None):
        raise ValueError(f"the subscription is on {req.plan!r} already")
    if req.timing == ChangeTiming.PERIOD_END and s.plan_fees[req.plan] > s.plan_fees.get(s.plan, 0):
        raise ValueError("an upgrade takes effect now")


def plan_changed(s: SubscriptionState, req: PlanChangeRequest, now: datetime) -> SubscriptionState:
    """The state after a validated plan change: now (prorated through `changes`) or at the period's end."""
    if req.timing == ChangeTiming.NOW and s.status != Status.TRIALING:
        changes = [*s.changes, PlanChange(from_plan=s.plan, to_plan=req.plan, at=now)]
        return s.model_copy(update={"plan": req.plan, "changes": changes, "pending_plan": None})
    if req.timing == ChangeTiming.NOW:
        return s.model_copy(update={"plan": req.plan, "period_plan": req.plan, "pending_plan": None})
    # back to the current plan takes the scheduled change back
    return s.model_copy(update={"pending_plan": None if req.plan == s.plan else req.plan})
