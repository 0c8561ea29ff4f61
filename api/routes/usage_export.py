"""`GET /v1/usage/export.csv`: the caller's tenant's settled ledger rows in a UTC day range, as CSV.

One row per metered step (model or tool call) that was billed, in the ledger's own units, so a tenant can
reconcile an invoice line by line. Same range rules as `/v1/usage` (default: this month so far; at most 366
days). Cells that start with `=`, `+`, `-` or `@` are quoted with a leading apostrophe against formula
injection in spreadsheets.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import StateDep
from api.routes.usage import UsageReader, _range
from db.database import run_sql

router = APIRouter(prefix="/v1/usage", tags=["usage"])

MAX_ROWS = 100_000
_COLUMNS = ("settled_at", "kind", "model", "tool", "agent", "conversation_id", "prompt_tokens", "completion_tokens")


def _cell(value: object) -> str:
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in {"=", "+", "-", "@"} else text


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_csv(
    principal: UsageReader,
    state: StateDep,
    start: Annotated[date | None, Query(alias="from", description="first UTC day, inclusive")] = None,
    end: Annotated[date | None, Query(alias="to", description="last UTC day, inclusive")] = None,
) -> Response:
    first, last = _range(start, end)
    params = {
        "t": principal.tenant_id,
        "start": datetime.combine(first, time.min, UTC),
        "end": datetime.combine(last, time.min, UTC) + timedelta(days=1),
        "n": MAX_ROWS,
    }
    async with state.db.tenant_session(principal.tenant_id) as session:
        rows = (
            await run_sql(
                session,
                f"SELECT {', '.join(_COLUMNS)}, cost_usd FROM usage_ledger WHERE tenant_id = :t AND status = 'settled'"  # noqa: S608
                " AND created_at >= :start AND created_at < :end ORDER BY created_at, key LIMIT :n",
                params,
            )
        ).all()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*_COLUMNS, "cost_usd"])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    filename = f"usage-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
