"""`/v1/subscription` and `/v1/invoices`: the tenant's subscription, its changes, its invoices and payments.

Reads come from Postgres (the subscription's projection, the invoices); changes are updates to the tenant's
`SubscriptionWorkflow`, which validates them (a refusal is 409 with the reason) and audits them. Another
tenant's invoice ids read as 404: row-level security hides them. Reads need `tenant:read`, changes
`tenant:write`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import StateDep, TemporalDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from billing import store
from billing.period import Change, proration_of
from billing.render import invoice_html
from billing.render_pdf import invoice_pdf
from contracts.billing import (
    CancelRequest,
    ChangeTiming,
    PaymentMethodRequest,
    PlanChangeRequest,
    SubscriptionState,
    subscription_workflow_id,
)
from tenancy.permissions import Permission
from tenancy.plans import PLANS
from tenancy.principal import TenantPrincipal
from tenancy.tenant_admin import get_tenant

router = APIRouter(prefix="/v1/subscription", tags=["billing"])
invoices = APIRouter(prefix="/v1/invoices", tags=["billing"])

Reader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
Writer = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]
Id = Annotated[uuid.UUID, Path()]


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: str | None = Field(default=None, min_length=1, max_length=64)
    # A downgrade may wait for the period's end; an upgrade is always now.
    timing: ChangeTiming = ChangeTiming.NOW
    cancel_at_period_end: bool | None = None
    payment_method: str | None = Field(default=None, min_length=3, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$")


def _missing(kind: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {kind}")


@router.get("")
async def read_subscription(principal: Reader, state: StateDep) -> dict[str, Any]:
    async with state.db.tenant_session(principal.tenant_id) as session:
        found = await store.read_subscription(session, principal.tenant_id)
    if found is None:
        raise _missing("subscription")
    return found


@router.patch("")
async def change_subscription(
    body: SubscriptionPatch, principal: Writer, state: StateDep, temporal: TemporalDep
) -> dict[str, Any]:
    if body.plan is None and body.cancel_at_period_end is None and body.payment_method is None:
        raise ApiError(422, "invalid_request", "nothing to change: give plan, cancel_at_period_end or payment_method")
    if body.plan is not None and body.plan not in PLANS:
        raise ApiError(422, "invalid_request", f"plan must be one of {', '.join(PLANS)}", {"field": "plan"})
    handle = temporal.get_workflow_handle(subscription_workflow_id(principal.tenant_id))
    actor = principal.subject or "api"
    result: SubscriptionState | None = None
    proration = 0
    try:
        if body.payment_method is not None:
            req = PaymentMethodRequest(payment_method=body.payment_method, actor=actor)
            result = await handle.execute_update("set_payment_method", req, result_type=SubscriptionState)
        if body.plan is not None:
            change = PlanChangeRequest(plan=body.plan, timing=body.timing, actor=actor)
            result = await handle.execute_update("change_plan", change, result_type=SubscriptionState)
            if body.timing == ChangeTiming.NOW and result.changes:
                last = result.changes[-1]
                proration = proration_of(
                    Change(last.from_plan, last.to_plan, last.at), result.period_start, result.period_end
                )
        if body.cancel_at_period_end is not None:
            cancel = CancelRequest(actor=actor, cancel=body.cancel_at_period_end)
            result = await handle.execute_update("cancel", cancel, result_type=SubscriptionState)
    except WorkflowUpdateFailedError as exc:
        reason = getattr(exc.cause, "message", None) or str(exc.cause)
        raise ApiError(409, "conflict", reason) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _missing("subscription") from exc
        raise
    assert result is not None
    return {"subscription": result.model_dump(mode="json"), "proration_cents": proration}


@invoices.get("", response_model=Page[dict[str, Any]])
async def list_invoices(principal: Reader, state: StateDep, page: PageDep) -> Page[dict[str, Any]]:
    scope = page.scope("invoices", principal.tenant_id)
    after = page.after(scope, str)
    async with state.db.tenant_session(principal.tenant_id) as session:
        rows = await store.list_invoices(
            session, principal.tenant_id, limit=page.limit + 1, before_number=after[0] if after else None
        )
    return page.of([r.public() for r in rows], scope, key=lambda r: (r["number"],))


async def _invoice(principal: TenantPrincipal, state: StateDep, invoice_id: uuid.UUID) -> store.StoredInvoice:
    async with state.db.tenant_session(principal.tenant_id) as session:
        invoice = await store.get_invoice(session, principal.tenant_id, str(invoice_id))
    if invoice is None:
        raise _missing("invoice")
    return invoice


@invoices.get("/{invoice_id}")
async def read_invoice(invoice_id: Id, principal: Reader, state: StateDep) -> dict[str, Any]:
    return (await _invoice(principal, state, invoice_id)).public()


@invoices.get("/{invoice_id}/html", response_class=HTMLResponse)
async def invoice_page(invoice_id: Id, principal: Reader, state: StateDep) -> HTMLResponse:
    invoice = await _invoice(principal, state, invoice_id)
    tenant = await get_tenant(state.db, principal.tenant_id)
    return HTMLResponse(
        invoice_html(invoice, tenant_name=tenant.name),
        headers={
            "Content-Disposition": f'inline; filename="invoice-{invoice.number}.html"',
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


@invoices.get("/{invoice_id}/pdf", response_class=Response)
async def invoice_document(invoice_id: Id, principal: Reader, state: StateDep) -> Response:
    invoice = await _invoice(principal, state, invoice_id)
    tenant = await get_tenant(state.db, principal.tenant_id)
    return Response(
        invoice_pdf(invoice, tenant_name=tenant.name),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="invoice-{invoice.number}.pdf"'},
    )


@invoices.get("/{invoice_id}/payments")
async def invoice_payments(invoice_id: Id, principal: Reader, state: StateDep) -> dict[str, Any]:
    invoice = await _invoice(principal, state, invoice_id)
    async with state.db.tenant_session(principal.tenant_id) as session:
        payments = await store.list_payments(session, principal.tenant_id, invoice.id)
    return {
        "invoice_id": invoice.id,
        "status": invoice.status,
        "paid_at": invoice.public()["paid_at"],
        "payments": payments,
    }
