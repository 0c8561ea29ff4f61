"""`/console/approvals`: every approval of the tenant still waiting for a person, oldest first.

Reading needs what the API's approval listing needs (`conversations:read`); the approve/deny buttons post to
the conversation's approval route (`console.pages.conversations`), which needs `approvals:decide`.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from agents.sealed_records import APPROVALS, open_fields
from api.deps import ConversationsReadDep
from console.web import PREFIX, ConsoleRoute, ViewerDep, render
from contracts.agents import ApprovalStatus
from db.database import run_sql
from tenancy.permissions import Permission

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

INBOX_LIMIT = 200
# Row-level security keeps it to the session's tenant; the partial order is the API's (requested_at, id).
_PENDING = (
    "SELECT id, tenant_id, conversation_id, tool, arguments, note, fields_sealed, requested_at, expires_at"
    " FROM approvals"
    " WHERE status = :status ORDER BY requested_at, id LIMIT :limit"
)


@router.get("/approvals")
async def inbox(viewer: ViewerDep) -> Response:
    principal = await viewer.check(ConversationsReadDep)
    async with viewer.state.db.tenant_session(principal.tenant_id) as session:
        params = {"status": ApprovalStatus.PENDING.value, "limit": INBOX_LIMIT}
        pending = []
        for row in (await run_sql(session, _PENDING, params)).all():
            opened = await open_fields(session, APPROVALS, row)
            shown = {key: value for key, value in row._mapping.items() if key not in ("tenant_id", "fields_sealed")}
            pending.append(
                {**shown, "arguments": json.dumps(opened["arguments"], sort_keys=True), "note": opened["note"]}
            )
    return render(
        viewer,
        viewer.request,
        "approvals.html",
        pending=pending,
        may_decide=Permission.APPROVALS_DECIDE in principal.permissions,
    )
