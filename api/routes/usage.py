"""`/v1/usage`: the caller's tenant's settled usage, grouped by UTC day, model or agent.

Only settled rows count (a refunded call cost nothing); reservations of calls under way are reported
beside them, whatever the range. The tenant is always the caller's (the session is bound to it), so no
other tenant's usage can be named. Money is a decimal string with six places, as the ledger keeps it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import StateDep, requires
from api.errors import ApiError
from db.database import run_sql
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/usage", tags=["usage"])

UsageReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
MAX_RANGE_DAYS = 366
MAX_GROUPS = 1000


class GroupBy(StrEnum):
    DAY = "day"
    MODEL = "model"
    AGENT = "agent"


# Fixed expressions chosen by the enum, never text from the request. Tool calls group by model as
# `tool:<name>`, so one listing shows where the money went.
_GROUP_EXPRESSIONS = {
    GroupBy.DAY: "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    GroupBy.MODEL: "CASE WHEN kind = 'model' THEN model ELSE 'tool:' || tool END",
    GroupBy.AGENT: "agent",
}
_SUMS = (
    "count(*) AS calls, coalesce(sum(prompt_tokens), 0) AS prompt_tokens, "
    "coalesce(sum(completion_tokens), 0) AS completion_tokens, coalesce(sum(cost_usd), 0) AS cost_usd"
)
_SETTLED = "tenant_id = :t AND status = 'settled' AND created_at >= :start AND created_at < :end"


class UsageTotals(BaseModel):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal


class UsageGroup(UsageTotals):
    key: str


class LiveReservations(BaseModel):
    count: int
    reserved_usd: Decimal


class UsageReport(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    group_by: GroupBy
    groups: list[UsageGroup]
    totals: UsageTotals
    reservations: LiveReservations


def _range(start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    end = end or (today if start is None or start <= today else start)
    start = start or end.replace(day=1)
    if start > end:
        raise ApiError(422, "invalid_range", "`from` must not lie after `to`")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ApiError(422, "range_too_long", f"a range covers at most {MAX_RANGE_DAYS} days")
    if end >= date.max:
        raise ApiError(422, "invalid_range", "`to` is out of range")
    return start, end


def _totals(row: Any) -> dict[str, Any]:
    return {
        "calls": int(row.calls),
        "prompt_tokens": int(row.prompt_tokens),
        "completion_tokens": int(row.completion_tokens),
        "cost_usd": Decimal(row.cost_usd),
    }


@router.get("", response_model=UsageReport)
async def read_usage(
    principal: UsageReader,
    state: StateDep,
    start: Annotated[date | None, Query(alias="from", description="first UTC day, inclusive")] = None,
    end: Annotated[date | None, Query(alias="to", description="last UTC day, inclusive")] = None,
    group_by: GroupBy = GroupBy.DAY,
) -> UsageReport:
    """Settled usage per group between `from` and `to` (default: the current month), with totals."""
    first, last = _range(start, end)
    params = {
        "t": principal.tenant_id,
        "start": datetime.combine(first, time.min, UTC),
        "end": datetime.combine(last, time.min, UTC) + timedelta(days=1),
    }
    expression = _GROUP_EXPRESSIONS[group_by]
    async with state.db.tenant_session(principal.tenant_id) as session:
        groups = (
            await run_sql(
                session,
                f"SELECT {expression} AS key, {_SUMS} FROM usage_ledger WHERE {_SETTLED} "  # noqa: S608
                f"GROUP BY 1 ORDER BY 1 LIMIT {MAX_GROUPS}",
                params,
            )
        ).all()
        totals = (await run_sql(session, f"SELECT {_SUMS} FROM usage_ledger WHERE {_SETTLED}", params)).one()  # noqa: S608
        live = (
            await run_sql(
                session,
                "SELECT count(*) AS live, coalesce(sum(reserved_usd), 0) AS reserved_usd FROM usage_ledger "
                "WHERE tenant_id = :t AND status = 'reserved' AND expires_at > now()",
                {"t": principal.tenant_id},
            )
        ).one()
    return UsageReport(
        start=first,
        end=last,
        group_by=group_by,
        groups=[UsageGroup(key=str(row.key), **_totals(row)) for row in groups],
        totals=UsageTotals(**_totals(totals)),
        reservations=LiveReservations(count=int(live.live), reserved_usd=Decimal(live.reserved_usd)),
    )
