"""Erasure of one end customer: `POST /v1/customers/{id}/erasure`, `GET /v1/erasures/{id}`, and checking a
signed report with `POST /v1/erasures/verify`.

A request records the erasure (one per customer: asking again answers with the first, 200 instead of 202)
and its audit entry in one transaction, then starts `ErasureWorkflow`. Starting again is harmless (the
workflow id is the erasure's), so a request whose start was lost is completed by asking again. Requesting
needs `tenant:write` (it destroys data), reading and verifying `tenant:read`. Another tenant's customers and
erasures answer 404, and its reports do not verify.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.deps import DatabaseDep, SettingsDep, TemporalDep, requires
from api.errors import ApiError
from commerce.customer_store import find_customer
from contracts.names import WF_ERASURE
from contracts.privacy import ErasureInput, erasure_workflow_id
from contracts.search_attributes import TENANT_ID
from core.settings import Settings
from policies.erasure.signing import public_key, verify
from policies.erasure.store import ErasureNotFound, ErasureRecord, create_erasure, read_erasure
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/erasures", tags=["privacy"])
# The request sits under the customer it erases.
customer_router = APIRouter(prefix="/v1/customers", tags=["privacy"])

ErasureReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
ErasureRequester = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]
CustomerId = Annotated[uuid.UUID, Path(description="the customer's id")]
ErasureId = Annotated[uuid.UUID, Path(description="the erasure's id")]
MAX_SIGNATURE_CHARS = 200


class ErasureOut(BaseModel):
    id: str
    customer_id: str
    status: str
    requested_by: str
    created_at: datetime
    erased_at: datetime | None
    completed_at: datetime | None
    # Rows deleted or anonymised per table, once erased.
    rows: dict[str, int] | None
    # The signed report once completed: check it with `POST /v1/erasures/verify`, or offline with the
    # Ed25519 `public_key` over the report's canonical JSON (sorted keys, no spaces, UTF-8).
    report: dict[str, Any] | None
    signature: str | None
    key_id: str | None
    public_key: str | None


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    report: dict[str, Any]
    signature: str = Field(min_length=1, max_length=MAX_SIGNATURE_CHARS)


class VerifyOut(BaseModel):
    valid: bool
    key_id: str | None


def _out(record: ErasureRecord, public: bytes | None) -> ErasureOut:
    return ErasureOut(
        id=record.id,
        customer_id=record.customer_id,
        status=record.status,
        requested_by=record.requested_by,
        created_at=record.created_at,
        erased_at=record.erased_at,
        completed_at=record.completed_at,
        rows=record.rows,
        report=record.report,
        signature=record.signature,
        key_id=record.key_id,
        public_key=base64.b64encode(public).decode() if public is not None else None,
    )


async def _start(client: Client, settings: Settings, tenant_id: str, record: ErasureRecord, actor: str) -> None:
    # Already started: it ran (or runs), and the erasure row tells how far it got.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            WF_ERASURE,
            ErasureInput(tenant_id=tenant_id, erasure_id=record.id, customer_id=record.customer_id, actor=actor),
            id=record.workflow_id,
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT_ID, tenant_id)]),
        )


@customer_router.post(
    "/{customer_id}/erasure",
    response_model=ErasureOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={status.HTTP_200_OK: {"model": ErasureOut, "description": "the customer's erasure requested before"}},
)
async def request_erasure(
    customer_id: CustomerId,
    principal: ErasureRequester,
    db: DatabaseDep,
    client: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> ErasureOut:
    """Forget this customer: every message, tool call, ticket, lead and event stream of theirs."""
    tenant_id = principal.tenant_id
    erasure_id = str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        if await find_customer(session, str(customer_id)) is None:
            raise ApiError(404, "customer_not_found", "no such customer")
        record, created = await create_erasure(
            session,
            tenant_id,
            erasure_id,
            str(customer_id),
            principal.subject,
            erasure_workflow_id(tenant_id, erasure_id),
        )
        if created:
            await record_event(
                session,
                tenant_id=tenant_id,
                actor=principal.subject,
                action="customer.erasure_requested",
                target=str(customer_id),
                details={"erasure_id": record.id},
            )
    if record.status != "completed":
        await _start(client, settings, tenant_id, record, principal.subject)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _out(record, None)


@router.get("/{erasure_id}", response_model=ErasureOut)
async def get_erasure(erasure_id: ErasureId, principal: ErasureReader, db: DatabaseDep) -> ErasureOut:
    """The erasure's status, what it removed, and its signed report once completed."""
    async with db.tenant_session(principal.tenant_id) as session:
        try:
            record = await read_erasure(session, str(erasure_id))
        except ErasureNotFound:
            raise ApiError(404, "erasure_not_found", "no such erasure") from None
        public = await public_key(session, record.key_id) if record.key_id else None
    return _out(record, public)


@router.post("/verify", response_model=VerifyOut)
async def verify_report(body: VerifyIn, principal: ErasureReader, db: DatabaseDep) -> VerifyOut:
    """Whether `signature` is this tenant's signature of `report` (false for anything altered or foreign)."""
    key_id = body.report.get("signed_with")
    if not isinstance(key_id, str) or not key_id or len(key_id) > MAX_SIGNATURE_CHARS:
        raise ApiError(422, "invalid_report", "the report does not name its key in `signed_with`")
    async with db.tenant_session(principal.tenant_id) as session:
        public = await public_key(session, key_id)
    if public is None or body.report.get("tenant_id") != principal.tenant_id:
        return VerifyOut(valid=False, key_id=None)
    return VerifyOut(valid=verify(public, body.report, body.signature), key_id=key_id)
