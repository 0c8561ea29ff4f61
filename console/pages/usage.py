"""`/console/usage` and `/console/budgets`: spend and tokens per UTC day drawn as bar charts, per model and per
agent, and the tenant's budget (limits, spend against them, mode) with a form to set it, through the
`/v1/usage` and `/v1/budgets` functions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Query, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.errors import ApiError
from api.routes.budgets import BudgetLimits, BudgetReader, BudgetWriter, read_budget, replace_budget
from api.routes.usage import GroupBy, UsageReader, read_usage
from console.charts import bar_chart
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, ViewerDep, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

DEFAULT_DAYS = 30


@router.get("/usage")
async def usage(
    viewer: ViewerDep,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    principal = await viewer.check(UsageReader)
    state = viewer.state
    last = end or datetime.now(UTC).date()
    first = start or (last - timedelta(days=DEFAULT_DAYS - 1))
    by_day = await read_usage(principal, state, first, last, GroupBy.DAY)
    by_model = await read_usage(principal, state, by_day.start, by_day.end, GroupBy.MODEL)
    by_agent = await read_usage(principal, state, by_day.start, by_day.end, GroupBy.AGENT)
    rows = {date.fromisoformat(g.key): g for g in by_day.groups}
    spend = bar_chart(
        "Spend per day (USD)", {d: g.cost_usd for d, g in rows.items()}, by_day.start, by_day.end, unit="$"
    )
    tokens = bar_chart(
        "Tokens per day", {d: g.prompt_tokens + g.completion_tokens for d, g in rows.items()}, by_day.start, by_day.end
    )
    return render(
        viewer,
        viewer.request,
        "usage.html",
        report=by_day,
        by_model=by_model.groups,
        by_agent=by_agent.groups,
        spend=spend,
        tokens=tokens,
    )


def _money(field: str, value: str) -> Decimal | None:
    text = value.strip()
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ApiError(422, "invalid_request", f"invalid value for: {field}") from None


@router.get("/budgets")
async def budgets(viewer: ViewerDep) -> Response:
    principal = await viewer.check(BudgetReader)
    report = await read_budget(principal, viewer.state)
    return render(viewer, viewer.request, "budgets.html", budget=report)


@router.post("/budgets")
async def set_budget(
    viewer: CsrfViewerDep,
    daily_soft_usd: Annotated[str, Form(max_length=32)] = "",
    daily_hard_usd: Annotated[str, Form(max_length=32)] = "",
    monthly_soft_usd: Annotated[str, Form(max_length=32)] = "",
    monthly_hard_usd: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Replace all four limits, as the API's `PUT`: an empty field clears its limit."""
    principal = await viewer.check(BudgetWriter)
    fields = {
        "daily_soft_usd": daily_soft_usd,
        "daily_hard_usd": daily_hard_usd,
        "monthly_soft_usd": monthly_soft_usd,
        "monthly_hard_usd": monthly_hard_usd,
    }
    try:
        body = BudgetLimits(**{name: _money(name, value) for name, value in fields.items()})
    except ValidationError as exc:
        problem = "; ".join(str(e.get("msg", "")) for e in exc.errors())
        raise ApiError(422, "invalid_request", f"invalid budget: {problem}") from exc
    await replace_budget(body, principal, viewer.state)
    return RedirectResponse(f"{PREFIX}/budgets", status_code=303)
