"""`/v1/knowledge/search` and customers' visibility groups (`/v1/knowledge/customers/{id}/groups`).

Search is hybrid (vector and full text, fused) over the tenant's collections, all of them or those named,
as the visibility groups given; a customer's groups are what that customer's conversations search as.
Searching needs `conversations:read`; setting a customer's groups needs `agents:manage`, and is audited.
Another tenant's customer answers 404; a search index that cannot be reached, 503.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import DatabaseDep
from api.knowledge_schemas import CustomerGroups, SearchIn, SearchOut, parse_groups
from api.routes.knowledge import Manager, Reader, index_unavailable, not_found
from knowledge import catalog
from knowledge.search import search_collections
from knowledge.store import IndexUnavailable
from tenancy.audit import record_event

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])

CustomerId = Annotated[uuid.UUID, Path(description="the customer's id")]


@router.post("/search", response_model=SearchOut)
async def search(body: SearchIn, principal: Reader, db: DatabaseDep) -> SearchOut:
    """Hybrid search over the tenant's collections (all of them, or those named) as the given groups."""
    try:
        passages = await search_collections(
            db.tenant_session,
            principal.tenant_id,
            body.query,
            collection_ids=[str(c) for c in body.collection_ids] or None,
            groups=body.groups,
            metadata=body.metadata,
            top_k=body.top_k,
            mode=body.mode,
        )
    except IndexUnavailable as exc:
        raise index_unavailable() from exc
    return SearchOut.of(passages)


@router.get("/customers/{customer_id}/groups", response_model=CustomerGroups)
async def get_customer_groups(customer_id: CustomerId, principal: Reader, db: DatabaseDep) -> CustomerGroups:
    """The visibility groups the customer's conversations search as."""
    async with db.tenant_session(principal.tenant_id) as session:
        groups = await catalog.customer_groups(session, str(customer_id))
    if groups is None:
        raise not_found("customer")
    return CustomerGroups(groups=groups)


@router.put("/customers/{customer_id}/groups", response_model=CustomerGroups)
async def put_customer_groups(
    customer_id: CustomerId, body: CustomerGroups, principal: Manager, db: DatabaseDep
) -> CustomerGroups:
    """Replace the customer's visibility groups; documents with any of them become searchable for them."""
    groups = parse_groups(body.groups)
    async with db.tenant_session(principal.tenant_id) as session:
        if not await catalog.set_customer_groups(session, principal.tenant_id, str(customer_id), groups):
            raise not_found("customer")
        await record_event(
            session, tenant_id=principal.tenant_id, actor=principal.subject, action="knowledge.customer_groups_set",
            target=str(customer_id), details={"groups": groups},
        )  # fmt: skip
    return CustomerGroups(groups=groups)
