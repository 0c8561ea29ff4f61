"""`/console/audit`: the tenant's audit log, newest first, with its hash chain verified on the same page,
through the `/v1/audit` functions (`audit:read`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.routes.audit import AuditReader, read_audit_log, verify_audit_log
from console.pages.conversations import Cursor, page_request
from console.web import PREFIX, ConsoleRoute, ViewerDep, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@router.get("/audit")
async def audit(
    viewer: ViewerDep,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^([a-z][a-z0-9_.]*)?$")] = None,
    cursor: Cursor = None,
) -> Response:
    principal = await viewer.check(AuditReader)
    state = viewer.state
    wanted = action or None
    page = await read_audit_log(principal, state, page_request(viewer, cursor), action=wanted, since=None, until=None)
    verification = await verify_audit_log(principal, state)
    return render(viewer, viewer.request, "audit.html", page=page, action=wanted or "", verification=verification)
