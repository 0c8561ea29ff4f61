"""`/console/api-keys`: list, create and revoke the tenant's API keys, through the `/v1/api-keys` functions.

A new key's secret is shown once, on the page that answers the creating form, and never again.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.deps import KeysManageDep
from api.errors import ApiError
from api.routes.api_keys import ApiKeyCreate, create_key, list_keys, revoke_key
from console.pages.conversations import page_request
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, ViewerDep, render
from tenancy.permissions import TenantRole

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@router.get("/api-keys")
async def keys(viewer: ViewerDep) -> Response:
    principal = await viewer.check(KeysManageDep)
    listed = await list_keys(principal, viewer.state, page_request(viewer, None, 200), include_inactive=True)
    return render(viewer, viewer.request, "api_keys.html", keys=listed.items, roles=list(TenantRole), created=None)


@router.post("/api-keys")
async def create(
    viewer: CsrfViewerDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    role: Annotated[TenantRole, Form()] = TenantRole.DEVELOPER,
) -> Response:
    principal = await viewer.check(KeysManageDep)
    try:
        body = ApiKeyCreate(name=name, role=role)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", "a key's name may not contain control characters") from exc
    created = await create_key(body, principal, viewer.state)
    listed = await list_keys(principal, viewer.state, page_request(viewer, None, 200), include_inactive=True)
    return render(
        viewer, viewer.request, "api_keys.html", 201, keys=listed.items, roles=list(TenantRole), created=created
    )


@router.post("/api-keys/{key_id}/revoke")
async def revoke(key_id: uuid.UUID, viewer: CsrfViewerDep) -> Response:
    principal = await viewer.check(KeysManageDep)
    await revoke_key(key_id, principal, viewer.state)
    return RedirectResponse(f"{PREFIX}/api-keys", status_code=303)
