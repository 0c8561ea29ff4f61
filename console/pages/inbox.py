"""`/console/approvals`: every approval of the tenant still waiting for a person, oldest first.

Reading needs what the API's approval listing needs (`conversations:read`); the approve/deny buttons post to
the conversation's approval route (`console.pages.conversations`), which needs `approvals:decide`.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from api.deps import ConversationsReadDep
from console.web import PREFIX, ConsoleRoute, ViewerDep, render
from contracts.agents import ApprovalStatus
from db.database import run_sql
from tenancy.permissions import Permission

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

INBOX_LIMIT = 200
# Row-level security keeps it to the session's tenant; the partial order is the API's (requested_at, id).
_PENDING = (
    "SELECT id, conversation_id, tool, arguments, requested_at, expires_at FROM approvals"
    " WHERE status = :status ORDER BY requested_at, id LIMIT :limit"
)


@router.get("/approvals")
async def inbox(viewer: ViewerDep) -> Response:
    principal = await viewer.check(ConversationsReadDep)
    async with viewer.state.db.tenant_session(principal.tenant_id) as session:
        params = {"status": ApprovalStatus.PENDING.value, "limit": INBOX_LIMIT}
        rows = (await run_sql(session, _PENDING, params)).mappings().all()
    pending = [{**dict(row), "arguments": json.dumps(row["arguments"], sort_keys=True)} for row in rows]
    return render(
        viewer,
        viewer.request,
        "approvals.html",
        pending=pending,
        may_decide=Permission.APPROVALS_DECIDE in principal.permissions,
    )
