"""`SubscriptionWorkflow`: one run per tenant and billing period (id `"{tenant}:subscription"`).

A run waits out its period (or its trial), closes it into an invoice (`billing.close_period`, gapless numbers,
idempotent per period), collects the invoice through the payment connector with the dunning schedule, and
continues as new with the next period's state. Dunning that runs out suspends the tenant; a new payment
method pays the open invoice and resumes it. Plan changes, cancellation and payment methods are validated
updates, each audited. Every charge carries an idempotency key per try, so neither an activity retry nor a
worker killed mid-charge charges twice. Why continue-as-new rather than a Temporal Schedule: docs/billing.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

from workflows.subscription_calls import Audit, publish, record, set_tenant_status, sleep_until, update_key
from workflows.subscription_rules import (
    CANCELED_PLAN,
    Status,
    after_close,
    new_period,
    plan_changed,
    resumed,
    validate_plan_change,
)

with workflow.unsafe.imports_passed_through():
    from contracts.billing import (
        BILLING_RETRY,
        BILLING_START_TO_CLOSE,
        CHARGE_START_TO_CLOSE,
        TRIAL_REMINDER,
        CancelRequest,
        ChargeInput,
        ChargeResult,
        ClosePeriodInput,
        InvoiceSummary,
        PaymentMethodRequest,
        PlanChangeRequest,
        SubscriptionInput,
        SubscriptionState,
    )
    from contracts.names import (
        ACT_BILLING_CHARGE,
        ACT_BILLING_CLOSE_PERIOD,
        WF_SUBSCRIPTION,
    )
    from contracts.webhooks import WebhookEventType


@workflow.defn(name=WF_SUBSCRIPTION)
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, inp: SubscriptionInput) -> None:
        self._s = inp.state
        self._payment_method_changed = False
        # Set while a period closes: a change then belongs to the next period, so handlers wait for it.
        self._closing = False

    @workflow.run
    async def run(self, inp: SubscriptionInput) -> SubscriptionState:
        if workflow.info().continued_run_id is None:
            await self._record(("subscription.started", {"plan": self._s.plan}), key="start")
        if self._s.status == Status.TRIALING:
            await self._trial()
        elif self._s.status == Status.SUSPENDED:
            await self._suspended()
        elif self._s.status != Status.CANCELED:
            await sleep_until(self._s.period_end, "period end")
            await self._close_and_collect()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._s.status == Status.CANCELED and self._s.open_invoice_id is None:
            return self._s
        workflow.continue_as_new(SubscriptionInput(state=self._s))

    # ---- the period ------------------------------------------------------------------------------------

    async def _close_and_collect(self) -> None:
        self._closing = True
        s = self._s
        invoice = await workflow.execute_activity(
            ACT_BILLING_CLOSE_PERIOD,
            ClosePeriodInput(
                tenant_id=s.tenant_id,
                start_plan=s.period_plan or s.plan,
                plan=s.plan,
                period_start=s.period_start,
                period_end=s.period_end,
                tax_rate=s.tax_rate,
                credit_cents=s.credit_cents,
                changes=s.changes,
            ),
            result_type=InvoiceSummary,
            start_to_close_timeout=BILLING_START_TO_CLOSE,
            retry_policy=BILLING_RETRY,
        )
        plan = s.pending_plan or s.plan
        canceled = s.cancel_at_period_end
        self._s = after_close(s, invoice)
        self._closing = False
        audit = ("subscription.canceled", {"plan": s.plan}) if canceled else None
        if s.pending_plan:
            audit = ("subscription.plan_changed", {"from": s.plan, "to": plan, "timing": "period_end"})
        await self._record(audit, key=f"close:{invoice.invoice_id}")
        await self._publish(
            WebhookEventType.INVOICE_CREATED,
            f"invoice.created:{invoice.invoice_id}",
            {"invoice_id": invoice.invoice_id, "number": invoice.number, "total_cents": invoice.total_cents},
        )
        if self._s.open_invoice_id and not await self._collect():
            await self._suspend("payment failed after the dunning schedule")

    async def _collect(self) -> bool:
        """Try the open invoice at the close and on each dunning day; a new payment method tries at once."""
        closed_at = self._s.period_start
        for i, day in enumerate((0, *self._s.dunning_days)):
            due = closed_at + timedelta(days=day)
            while await self._payment_method_before(due):
                if await self._charge(f"pm{self._s.payment_method_changes}"):
                    return True
            if await self._charge(f"try{i}"):
                return True
            if self._s.status == Status.ACTIVE:
                self._s = self._s.model_copy(update={"status": Status.PAST_DUE})
                await self._record(None)
        return False

    async def _charge(self, tag: str) -> bool:
        s = self._s
        invoice_id = s.open_invoice_id or ""
        result = await workflow.execute_activity(
            ACT_BILLING_CHARGE,
            ChargeInput(
                tenant_id=s.tenant_id,
                invoice_id=invoice_id,
                amount_cents=s.open_invoice_cents,
                payment_method=s.payment_method,
                idempotency_key=f"{invoice_id}:{tag}",
            ),
            result_type=ChargeResult,
            start_to_close_timeout=CHARGE_START_TO_CLOSE,
            retry_policy=BILLING_RETRY,
        )
        data: dict[str, Any] = {"invoice_id": invoice_id, "amount_cents": s.open_invoice_cents, "attempt": tag}
        if not result.succeeded:
            await self._publish(
                WebhookEventType.PAYMENT_FAILED, f"payment.failed:{invoice_id}:{tag}", {**data, "error": result.error}
            )
            return False
        status = s.status if s.status in (Status.CANCELED, Status.SUSPENDED) else Status.ACTIVE
        self._s = self._s.model_copy(update={"open_invoice_id": None, "open_invoice_cents": 0, "status": status})
        await self._record(None)
        await self._publish(WebhookEventType.PAYMENT_SUCCEEDED, f"payment.succeeded:{invoice_id}", data)
        return True

    # ---- trial, suspension, resumption -----------------------------------------------------------------

    async def _trial(self) -> None:
        trial_end = self._s.trial_end or workflow.now()
        await sleep_until(trial_end - TRIAL_REMINDER, "trial reminder")
        if workflow.now() < trial_end:
            await self._publish(
                WebhookEventType.TRIAL_ENDING,
                f"trial.ending:{trial_end.isoformat()}",
                {"trial_end": trial_end.isoformat(), "has_payment_method": self._s.payment_method is not None},
            )
        await sleep_until(trial_end, "trial end")
        s = self._s
        converted = s.payment_method is not None and not s.cancel_at_period_end
        await self._publish(
            WebhookEventType.TRIAL_ENDED,
            f"trial.ended:{trial_end.isoformat()}",
            {"converted": converted, "plan": s.plan},
        )
        if s.cancel_at_period_end:
            self._s = s.model_copy(update={"status": Status.CANCELED, "plan": CANCELED_PLAN})
            await self._record(("subscription.canceled", {"plan": s.plan}), key="trial")
        elif converted:
            self._s = new_period(s, trial_end, Status.ACTIVE)
            await self._record(("subscription.trial_converted", {"plan": s.plan}), key="trial")
        else:
            await self._suspend("trial ended without a payment method")

    async def _suspended(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._payment_method_changed)
            self._payment_method_changed = False
            if self._s.open_invoice_id is None or await self._charge(f"pm{self._s.payment_method_changes}"):
                break
        await set_tenant_status(self._s.tenant_id, suspended=False, reason="invoice paid")
        s = self._s
        self._s = resumed(s, workflow.now())
        await self._record(("subscription.resumed", {"plan": s.plan}), key=f"resume:{s.payment_method_changes}")
        await self._publish(
            WebhookEventType.SUBSCRIPTION_RESUMED, f"subscription.resumed:{s.payment_method_changes}", {"plan": s.plan}
        )

    async def _suspend(self, reason: str) -> None:
        await set_tenant_status(self._s.tenant_id, suspended=True, reason=reason)
        if self._s.status != Status.CANCELED:
            self._s = self._s.model_copy(update={"status": Status.SUSPENDED})
        key = self._s.open_invoice_id or "trial"
        await self._record(("subscription.suspended", {"reason": reason}), key=f"suspend:{key}")
        await self._publish(
            WebhookEventType.SUBSCRIPTION_SUSPENDED, f"subscription.suspended:{key}", {"reason": reason}
        )
        if self._s.status == Status.CANCELED:
            self._s = self._s.model_copy(update={"open_invoice_id": None, "open_invoice_cents": 0})

    # ---- updates and the query -------------------------------------------------------------------------

    @workflow.update(name="change_plan")
    async def change_plan(self, req: PlanChangeRequest) -> SubscriptionState:
        await workflow.wait_condition(lambda: not self._closing)
        s = self._s
        self._s = plan_changed(s, req, workflow.now())
        details = {"from": s.plan, "to": req.plan, "timing": req.timing.value}
        await self._record(("subscription.plan_changed", details), actor=req.actor)
        await self._publish(WebhookEventType.SUBSCRIPTION_UPDATED, f"plan:{update_key()}", details)
        return self._s

    @change_plan.validator
    def _validate_change(self, req: PlanChangeRequest) -> None:
        validate_plan_change(self._s, req)

    @workflow.update(name="cancel")
    async def cancel(self, req: CancelRequest) -> SubscriptionState:
        self._s = self._s.model_copy(update={"cancel_at_period_end": req.cancel})
        action = "subscription.cancel_scheduled" if req.cancel else "subscription.cancel_withdrawn"
        await self._record((action, {"period_end": self._s.period_end.isoformat()}), actor=req.actor)
        return self._s

    @cancel.validator
    def _validate_cancel(self, req: CancelRequest) -> None:
        if self._s.status == Status.CANCELED:
            raise ValueError("the subscription is canceled already")

    @workflow.update(name="set_payment_method")
    async def set_payment_method(self, req: PaymentMethodRequest) -> SubscriptionState:
        count = self._s.payment_method_changes + 1
        self._s = self._s.model_copy(update={"payment_method": req.payment_method, "payment_method_changes": count})
        self._payment_method_changed = True
        await self._record(("subscription.payment_method_changed", {"changes": count}), actor=req.actor)
        return self._s

    @workflow.query(name="state")
    def state(self) -> SubscriptionState:
        return self._s

    # ---- helpers ---------------------------------------------------------------------------------------

    async def _payment_method_before(self, due: datetime) -> bool:
        remaining = due - workflow.now()
        if self._payment_method_changed:
            self._payment_method_changed = False
            return True
        if remaining <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(lambda: self._payment_method_changed, timeout=remaining)
        except TimeoutError:
            return False
        self._payment_method_changed = False
        return True

    async def _record(self, audit: Audit | None, *, key: str | None = None, actor: str = "system:billing") -> None:
        await record(self._s, audit, key=key, actor=actor)

    async def _publish(self, event: WebhookEventType, key: str, data: dict[str, Any]) -> None:
        await publish(self._s, event, key, data)
