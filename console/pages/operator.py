"""Operator pages: tenants (list, create, suspend, resume) through the `/v1/admin/tenants` functions, and the
system's health. Tenant credentials get the same 403 here as on the admin API, whatever their role.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.deps import PlatformAdminDep, PlatformOperatorDep
from api.errors import ApiError
from api.pagination import Page
from api.routes.admin_tenants import Plan, StatusChange, TenantCreate, create, list_all, read, resume, suspend
from api.routes.health import readyz
from api.routes.tenant import TenantOut
from console.pages.conversations import Cursor, page_request
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, ViewerDep, render
from tenancy.lifecycle import TenantStatus

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@router.get("/tenants")
async def tenants(
    viewer: ViewerDep,
    status: Annotated[TenantStatus | Literal[""] | None, Query()] = None,
    cursor: Cursor = None,
    tenant: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    principal = await viewer.check(PlatformAdminDep)
    wanted = status or None
    if tenant is not None:
        # One tenant by id: where a status change lands, whatever page of the list the tenant is on.
        found = await read(tenant, principal, viewer.state)
        one: Page[TenantOut] = Page(items=[found], next_cursor=None)
        return render(viewer, viewer.request, "tenants.html", page=one, status="", created=None)
    page = await list_all(principal, viewer.state, page_request(viewer, cursor), status_filter=wanted)
    return render(viewer, viewer.request, "tenants.html", page=page, status=wanted or "", created=None)


@router.post("/tenants")
async def create_tenant(
    viewer: CsrfViewerDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    plan: Annotated[Plan, Form()] = "free",
    demo: Annotated[bool, Form()] = False,
) -> Response:
    principal = await viewer.check(PlatformAdminDep)
    try:
        body = TenantCreate(name=name, plan=plan, demo=demo)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", "invalid tenant name or plan") from exc
    created = await create(body, principal, viewer.state)
    listed = await list_all(principal, viewer.state, page_request(viewer, None), status_filter=None)
    # The new tenant heads the table: the list is oldest first, so it is rarely on the first page.
    others = [t for t in listed.items if t.id != created.tenant.id]
    page = Page(items=[created.tenant, *others], next_cursor=listed.next_cursor)
    return render(viewer, viewer.request, "tenants.html", 201, page=page, status="", created=created)


@router.post("/tenants/{tenant_id}/{action}")
async def change(
    tenant_id: uuid.UUID,
    action: Literal["suspend", "resume"],
    viewer: CsrfViewerDep,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    principal = await viewer.check(PlatformAdminDep)
    move = suspend if action == "suspend" else resume
    await move(tenant_id, principal, viewer.state, StatusChange(reason=reason or None))
    return RedirectResponse(f"{PREFIX}/tenants?tenant={tenant_id}", status_code=303)


@router.get("/health")
async def health(viewer: ViewerDep) -> Response:
    await viewer.check(PlatformOperatorDep)
    answer = await readyz(viewer.state)
    report = json.loads(bytes(answer.body))
    return render(viewer, viewer.request, "health.html", report=report)
