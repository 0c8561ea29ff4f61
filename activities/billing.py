"""The side effects of `SubscriptionWorkflow`: close a period into an invoice, charge it, suspend or resume the
tenant, and write the subscription's projection with its audit event. Each is idempotent by its input, so a
retried activity (or one repeated after a worker was killed) changes nothing a second time.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from temporalio import activity
from temporalio.exceptions import ApplicationError

from billing import store
from billing.payments import PaymentProcessor, ProcessorUnavailable
from billing.period import Change, bill_period, proration_of
from contracts.billing import (
    ChargeInput,
    ChargeResult,
    ClosePeriodInput,
    InvoiceSummary,
    RecordSubscriptionInput,
    SetTenantStatusInput,
)
from contracts.names import (
    ACT_BILLING_CHARGE,
    ACT_BILLING_CLOSE_PERIOD,
    ACT_BILLING_RECORD,
    ACT_BILLING_SET_TENANT_STATUS,
)
from db.database import Database
from db.ids import new_id
from tenancy.audit import record_event_once
from tenancy.lifecycle import TenantStatus
from tenancy.tenant_admin import TenantNotFound, TransitionRefused, change_status, update_tenant

log = structlog.get_logger("aiaas.billing")
CHARGES = Counter("aiaas_billing_charges_total", "Charges sent to the payment processor", ["outcome"])
INVOICES = Counter("aiaas_billing_invoices_total", "Invoices issued at period close")
LATE_TOKENS = Counter("aiaas_billing_late_tokens_total", "Tokens settled after their period's close, billed late")


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidBillingInput", non_retryable=True)


class BillingActivities:
    def __init__(self, db: Database, redis: Redis, processor: PaymentProcessor) -> None:
        self._db = db
        self._redis = redis
        self._processor = processor

    def all(self) -> list[Callable[..., Any]]:
        return [self.close_period, self.charge, self.set_tenant_status, self.record_subscription]

    @activity.defn(name=ACT_BILLING_CLOSE_PERIOD)
    async def close_period(self, inp: ClosePeriodInput) -> InvoiceSummary:
        changes = [Change(from_plan=c.from_plan, to_plan=c.to_plan, at=c.at) for c in inp.changes]
        async with self._db.tenant_session(inp.tenant_id) as session:
            last = await store.lock_counter(session, inp.tenant_id)
            existing = await store.invoice_for_period(session, inp.tenant_id, inp.period_start)
            if existing is not None:
                return _summary(existing, created=False, credit_in=_credit_in(inp))
            # The rows this invoice bills are marked in its own transaction: a retry that finds the invoice above
            # marks nothing, and a row whose settle commits after this point is billed by the next close.
            invoice_id = new_id()
            tokens, late = await store.claim_usage(session, inp.tenant_id, invoice_id, inp.period_start, inp.period_end)
            try:
                bill = bill_period(
                    start_plan=inp.start_plan,
                    end_plan=inp.plan,
                    start=inp.period_start,
                    end=inp.period_end,
                    tokens=tokens,
                    changes=changes,
                    credit_cents=inp.credit_cents,
                    tax_rate=Decimal(inp.tax_rate),
                    base_fee=inp.base_fee,
                    late=late,
                )
            except ValueError as exc:
                raise _invalid(str(exc)) from exc
            invoice = await store.insert_invoice(
                session,
                inp.tenant_id,
                number=last + 1,
                start=inp.period_start,
                end=inp.period_end,
                plan=inp.plan,
                draft=bill.draft,
                credit_used_cents=bill.credit_used_cents,
                tokens=tokens,
                invoice_id=invoice_id,
            )
        INVOICES.inc()
        if late:
            LATE_TOKENS.inc(sum(x.tokens for x in late))
        return _summary(invoice, created=True, credit_in=_credit_in(inp))

    @activity.defn(name=ACT_BILLING_CHARGE)
    async def charge(self, inp: ChargeInput) -> ChargeResult:
        async with self._db.tenant_session(inp.tenant_id) as session:
            paid = await store.paid_payment(session, inp.tenant_id, inp.invoice_id)
        if paid is not None:
            return ChargeResult(succeeded=True, reference=paid, already_paid=True)
        # Without a payment method the try is recorded as declined for that reason, as a processor's decline is.
        reference: str | None = None
        error: str | None = "no_payment_method"
        outcome_ok = False
        if inp.payment_method:
            try:
                outcome = await self._processor.charge(
                    tenant_id=inp.tenant_id,
                    amount_cents=inp.amount_cents,
                    payment_method=inp.payment_method,
                    idempotency_key=inp.idempotency_key,
                    description=f"invoice {inp.invoice_id}",
                )
            except ProcessorUnavailable as exc:
                CHARGES.labels("unavailable").inc()
                raise ApplicationError(f"payment processor unavailable: {exc}", type="ProcessorUnavailable") from exc
            outcome_ok, reference, error = outcome.succeeded, outcome.reference, outcome.error
        async with self._db.tenant_session(inp.tenant_id) as session:
            await store.record_payment(
                session,
                inp.tenant_id,
                key=inp.idempotency_key,
                invoice_id=inp.invoice_id,
                amount_cents=inp.amount_cents,
                succeeded=outcome_ok,
                reference=reference,
                error=error,
            )
        CHARGES.labels("succeeded" if outcome_ok else "declined").inc()
        return ChargeResult(succeeded=outcome_ok, reference=reference, error=error)

    @activity.defn(name=ACT_BILLING_SET_TENANT_STATUS)
    async def set_tenant_status(self, inp: SetTenantStatusInput) -> str:
        target = TenantStatus.SUSPENDED if inp.suspended else TenantStatus.ACTIVE
        try:
            record = await change_status(
                self._db, self._redis, inp.tenant_id, target, actor="system:billing", reason=inp.reason
            )
        except TenantNotFound as exc:
            raise _invalid("the tenant does not exist") from exc
        except TransitionRefused:
            # Offboarding: billing has no say any more, and the lifecycle workflow stops this run.
            return "offboarding"
        return record.status

    @activity.defn(name=ACT_BILLING_RECORD)
    async def record_subscription(self, inp: RecordSubscriptionInput) -> None:
        state = inp.state
        try:
            # The tenant's plan (what admission enforces) follows the subscription's.
            await update_tenant(self._db, state.tenant_id, actor=inp.audit_actor, plan=state.plan)
        except TenantNotFound as exc:
            raise _invalid("the tenant does not exist") from exc
        async with self._db.tenant_session(state.tenant_id) as session:
            await store.save_subscription(
                session, state.tenant_id, state.plan, state.status.value, state.model_dump(mode="json")
            )
            if inp.audit_action:
                await record_event_once(
                    session,
                    idempotency_key=inp.audit_key,
                    tenant_id=state.tenant_id,
                    actor=inp.audit_actor,
                    action=inp.audit_action,
                    target=state.tenant_id,
                    details=dict(inp.audit_details),
                )


def _credit_in(inp: ClosePeriodInput) -> int:
    """The credit balance this period could use: carried in, plus what its downgrades credited."""
    credits = (
        proration_of(Change(c.from_plan, c.to_plan, c.at), inp.period_start, inp.period_end) for c in inp.changes
    )
    return inp.credit_cents - sum(min(amount, 0) for amount in credits)


def _summary(invoice: store.StoredInvoice, *, created: bool, credit_in: int) -> InvoiceSummary:
    return InvoiceSummary(
        invoice_id=invoice.id,
        number=invoice.number,
        total_cents=invoice.total_cents,
        credit_used_cents=invoice.credit_used_cents,
        credit_left_cents=credit_in - invoice.credit_used_cents,
        status=invoice.status,
        created=created,
    )
