"""`GET /v1/conversations`: the tenant's conversations, newest first, filtered and a page at a time.

Filters combine (all must hold): the recorded `status`, the `agent` and `channel` it was created with, the
`customer_id` it acts for, and a creation window `created_after` (inclusive) to `created_before` (exclusive).
Each item is the conversation as recorded in Postgres; a run's live state (turns under way, queued messages)
is in `GET /v1/conversations/{id}`, which asks the workflow. Another tenant's conversations never appear:
the session is bound to the caller's tenant under row-level security.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, AwareDatetime

from api.deps import ConversationsReadDep, DatabaseDep
from api.errors import ApiError
from api.pagination import Page, PageDep
from api.schemas import ConversationOut
from db.database import run_sql

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# Fixed text; every value is a bound parameter, and a filter left out is NULL and so always true.
_SELECT = (
    "SELECT id, agent, channel, status, metadata, double_texting, customer_id, created_at, updated_at"
    " FROM conversations"
    " WHERE (CAST(:status AS text) IS NULL OR status = :status)"
    " AND (CAST(:agent AS text) IS NULL OR agent = :agent)"
    " AND (CAST(:channel AS text) IS NULL OR channel = :channel)"
    " AND (CAST(:customer_id AS text) IS NULL OR customer_id = :customer_id)"
    " AND (CAST(:created_after AS timestamptz) IS NULL OR created_at >= :created_after)"
    " AND (CAST(:created_before AS timestamptz) IS NULL OR created_at < :created_before)"
    " AND (CAST(:after_at AS timestamptz) IS NULL"
    " OR (created_at, id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS text)))"
    " ORDER BY created_at DESC, id DESC LIMIT :limit"
)


def _in_utc(value: datetime) -> datetime:
    # An instant at the edge of the calendar with an offset has no UTC equivalent; refuse it here, not in Postgres.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
NameFilter = Annotated[str | None, Query(max_length=64, pattern=_NAME)]


class ConversationSummary(ConversationOut):
    status: str
    updated_at: datetime


def _summary(row: Any) -> ConversationSummary:
    metadata = row["metadata"] if isinstance(row["metadata"], dict) else json.loads(row["metadata"] or "{}")
    return ConversationSummary(**{**dict(row), "metadata": metadata})


@router.get("", response_model=Page[ConversationSummary])
async def list_conversations(
    principal: ConversationsReadDep,
    db: DatabaseDep,
    page: PageDep,
    status: Annotated[str | None, Query(max_length=32, pattern=_NAME, description="e.g. `open`")] = None,
    agent: NameFilter = None,
    channel: NameFilter = None,
    customer_id: Annotated[str | None, Query(pattern=_UUID, description="only this customer's")] = None,
    created_after: Annotated[Instant | None, Query(description="created at or after this instant")] = None,
    created_before: Annotated[Instant | None, Query(description="created before this instant")] = None,
) -> Page[ConversationSummary]:
    """The tenant's conversations, newest first."""
    if created_after is not None and created_before is not None and created_after >= created_before:
        raise ApiError(422, "invalid_range", "`created_after` must lie before `created_before`")
    filters = {
        "status": status,
        "agent": agent,
        "channel": channel,
        "customer_id": customer_id.lower() if customer_id else None,
        "created_after": created_after,
        "created_before": created_before,
    }
    scope = page.scope("conversations", principal.tenant_id, **filters)
    after = page.after(scope, datetime, str)
    params = {**filters, "after_at": None, "after_id": None, "limit": page.limit + 1}
    if after is not None:
        params.update(after_at=after[0], after_id=after[1])
    async with db.tenant_session(principal.tenant_id) as session:
        rows = (await run_sql(session, _SELECT, params)).mappings().all()
    return page.of([_summary(row) for row in rows], scope, key=lambda c: (c.created_at, c.id))
