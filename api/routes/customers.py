"""`/v1/customers`: the tenant's own customers, listed, read, and loaded one at a time, in batches or from CSV.

A customer is found by email (the key the schema keeps unique per tenant), so loading is an upsert: sending the
same customer again updates it. `POST` takes one customer (201 when it is new, 200 when it was updated) or a list
of up to `MAX_BATCH` (200, with the counts); `POST /import` takes a CSV file (`email,name[,phone]`), all or
nothing (`api.csv_import`). Reading needs `conversations:read` (customers are the people those conversations are
with); loading needs `agents:manage`, like the connectors that decide what the agents' tools act on. Every load
is audited. Another tenant's customers are invisible (row-level security) and answer 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from pydantic import Field

from api.commerce_schemas import EMAIL, CustomerBatchOut, CustomerIn, CustomerOut
from api.csv_import import ImportResult, RowErrors, parse, read_body, unique, validate
from api.deps import DatabaseDep, requires
from api.errors import ApiError
from api.media_types import CSV, body_of
from api.pagination import Page, PageDep
from commerce.customer_store import CustomerUpsert, CustomerUpserts, find_customer, list_customers, upsert_customers
from db.database import Database
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomersReader = Annotated[TenantPrincipal, requires(Permission.CONVERSATIONS_READ)]
CustomersLoader = Annotated[TenantPrincipal, requires(Permission.AGENTS_MANAGE)]
CustomerId = Annotated[uuid.UUID, Path(description="the customer's id")]
MAX_BATCH = 1000
CustomerBatch = Annotated[list[CustomerIn], Field(min_length=1, max_length=MAX_BATCH)]
_CSV_EXAMPLE = "email,name,phone\nada@example.com,Ada Lovelace,+44 20 7946 0001\nbob@example.com,Bob Example,\n"


def _upsert(customer: CustomerIn) -> CustomerUpsert:
    return CustomerUpsert(
        email=customer.email,
        name=customer.name,
        phone=customer.phone,
        keep_phone="phone" not in customer.model_fields_set,
    )


async def _load(db: Database, principal: TenantPrincipal, customers: list[CustomerIn], source: str) -> CustomerUpserts:
    async with db.tenant_session(principal.tenant_id) as session:
        outcome = await upsert_customers(session, principal.tenant_id, [_upsert(c) for c in customers])
        await record_event(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.subject,
            action="customers.loaded",
            target="customers",
            details={"source": source, "created": outcome.created, "updated": outcome.updated},
        )
    return outcome


@router.get("", response_model=Page[CustomerOut])
async def get_customers(
    principal: CustomersReader,
    db: DatabaseDep,
    page: PageDep,
    email: Annotated[
        str | None, Query(max_length=254, pattern=EMAIL, description="only the customer with this email")
    ] = None,
) -> Page[CustomerOut]:
    """The tenant's customers, newest first."""
    email = email.lower() if email is not None else None
    scope = page.scope("customers", principal.tenant_id, email=email)
    after = page.after(scope, datetime, str)
    async with db.tenant_session(principal.tenant_id) as session:
        records = await list_customers(
            session, tenant_id=principal.tenant_id, email=email, after=after, limit=page.limit + 1
        )
    return page.of([CustomerOut.of(r) for r in records], scope, key=lambda c: (c.created_at, c.id))


@router.get("/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: CustomerId, principal: CustomersReader, db: DatabaseDep) -> CustomerOut:
    async with db.tenant_session(principal.tenant_id) as session:
        record = await find_customer(session, str(customer_id))
    if record is None:
        raise ApiError(404, "customer_not_found", "no such customer")
    return CustomerOut.of(record)


@router.post(
    "",
    response_model=CustomerOut | CustomerBatchOut,
    responses={status.HTTP_201_CREATED: {"model": CustomerOut, "description": "a new customer"}},
)
async def post_customers(
    body: Annotated[CustomerIn | CustomerBatch, Body(description="one customer, or a list of them")],
    principal: CustomersLoader,
    db: DatabaseDep,
    response: Response,
) -> CustomerOut | CustomerBatchOut:
    """Create or update customers by email: one (201 new, 200 updated) or a list (200, with the counts)."""
    if isinstance(body, CustomerIn):
        outcome = await _load(db, principal, [body], "api")
        if outcome.created:
            response.status_code = status.HTTP_201_CREATED
        return CustomerOut.of(outcome.records[0])
    seen: dict[str, int] = {}
    for index, customer in enumerate(body):
        if customer.email in seen:
            raise ApiError(
                422, "duplicate_email", "a list may name each email once", {"indexes": [seen[customer.email], index]}
            )
        seen[customer.email] = index
    outcome = await _load(db, principal, body, "api")
    return CustomerBatchOut(
        created=outcome.created, updated=outcome.updated, items=[CustomerOut.of(r) for r in outcome.records]
    )


@router.post(
    "/import",
    response_model=ImportResult,
    openapi_extra=body_of(
        CSV, "a header row `email,name` (and `phone`), then one customer per row", example=_CSV_EXAMPLE
    ),
)
async def import_customers(request: Request, principal: CustomersLoader, db: DatabaseDep) -> ImportResult:
    """Create or update customers by email from a CSV file; any bad row and nothing is imported (422)."""
    errors = RowErrors()
    records = parse(await read_body(request), errors, required=("email", "name"), optional=("phone",))
    customers = validate(records, CustomerIn, errors)
    unique(customers, lambda c: c.email, "email", errors)
    errors.raise_if_any()
    if not customers:
        return ImportResult(rows=0, created=0, updated=0)
    outcome = await _load(db, principal, [c for _, c in customers], "csv")
    return ImportResult(rows=len(customers), created=outcome.created, updated=outcome.updated)
