"""`/console/tools`: the tool catalogue with each tool's switch and circuit breaker for the tenant, through the
`/v1/tools` functions: switching a tool on or off is the API's `PUT`, closing an open circuit its `DELETE
/v1/tools/{name}/breaker`, each with the API's permission (`agents:manage`) and audit entry.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Response
from fastapi.responses import RedirectResponse

from api.errors import ApiError
from api.routes.tools import (
    AgentsManageDep,
    TenantReadDep,
    ToolToggle,
    known_tool,
    list_tools,
    reset_breaker,
    set_tool,
)
from console.pages.conversations import page_request
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, ViewerDep, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

# Unknown names, malformed ones included, are the API's 404 `tool_not_found`.
Name = Annotated[str, Path(max_length=96)]


@router.get("/tools")
async def tools(viewer: ViewerDep) -> Response:
    principal = await viewer.check(TenantReadDep)
    state = viewer.state
    listed = await list_tools(principal, state.tools, state.tool_enablement, state, page_request(viewer, None, 200))
    return render(viewer, viewer.request, "tools.html", tools=listed.items)


@router.post("/tools/{name}")
async def switch(
    name: Name, viewer: CsrfViewerDep, enabled: Annotated[Literal["on", "off"] | None, Form()] = None
) -> Response:
    principal = await viewer.check(AgentsManageDep)
    state = viewer.state
    known_tool(state.tools, name)
    if enabled is None:
        raise ApiError(422, "invalid_request", "say whether to switch the tool on or off")
    body = ToolToggle(enabled=enabled == "on")
    await set_tool(name, body, principal, state.db, state.tools, state.tool_enablement, state)
    return RedirectResponse(f"{PREFIX}/tools", status_code=303)


@router.post("/tools/{name}/breaker/reset")
async def close_breaker(name: Name, viewer: CsrfViewerDep) -> Response:
    principal = await viewer.check(AgentsManageDep)
    state = viewer.state
    await reset_breaker(name, principal, state.db, state.tools, state)
    return RedirectResponse(f"{PREFIX}/tools", status_code=303)
