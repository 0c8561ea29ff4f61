"""`/console/agents`: the tenant's agents, one agent with its saved versions, editing (a new version or a
draft), comparing two versions and activating one (rolling back, or putting a draft live), through the
`/v1/agents` functions.

Editing is the API's `PATCH` of the fields the form shows (so loop limits and handoffs stay as they are), of
the current version or of the draft shown; "save as a draft" keeps conversations on the current version while
the draft is compared, evaluated or trialled as a canary. Activating is the API's activate: the chosen
version's definition saved again as the newest, so the history keeps every step and the audit log records it
(`restored_from`) like any other save.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.errors import ApiError
from api.routes.agent_diff import get_agent_diff
from api.routes.agents import (
    AgentsManageDep,
    AgentsReadDep,
    activate_agent_version,
    get_agent,
    get_agent_versions,
    get_agents,
    patch_agent,
)
from api.schemas import AgentPatch
from console.pages.conversations import page_request
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, Viewer, ViewerDep, render
from contracts.agents import AGENT_NAME

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

Name = Annotated[str, Path(pattern=AGENT_NAME, max_length=40)]
Version = Annotated[int, Path(ge=0, le=2_147_483_647)]


def _tool_list(text: str) -> list[str]:
    return [t for t in (part.strip() for part in text.replace("\n", ",").split(",")) if t]


async def _agent_page(viewer: Viewer, name: str, version: int | None, code: int = 200) -> Response:
    principal = await viewer.check(AgentsReadDep)
    state = viewer.state
    agent = await get_agent(name, principal, state.db, state.settings, version)
    current = await get_agent(name, principal, state.db, state.settings, None)
    versions = await get_agent_versions(name, principal, state.db, state.settings, page_request(viewer, None, 200))
    return render(viewer, viewer.request, "agent.html", code, agent=agent, current=current, versions=versions.items)


@router.get("/agents")
async def agents(viewer: ViewerDep) -> Response:
    principal = await viewer.check(AgentsReadDep)
    state = viewer.state
    listed = await get_agents(principal, state.db, state.settings, page_request(viewer, None, 200))
    return render(viewer, viewer.request, "agents.html", agents=listed.items)


@router.get("/agents/{name}")
async def agent(
    name: Name, viewer: ViewerDep, version: Annotated[int | None, Query(ge=0, le=2_147_483_647)] = None
) -> Response:
    return await _agent_page(viewer, name, version)


@router.get("/agents/{name}/diff")
async def compare(
    name: Name,
    viewer: ViewerDep,
    from_version: Annotated[int | None, Query(alias="from", ge=0, le=2_147_483_647)] = None,
    to_version: Annotated[int | None, Query(alias="to", ge=0, le=2_147_483_647)] = None,
) -> Response:
    """Two versions side by side; without `from`/`to`, what the last save changed."""
    principal = await viewer.check(AgentsReadDep)
    state = viewer.state
    diff = await get_agent_diff(name, principal, state.db, state.settings, from_version, to_version)
    versions = await get_agent_versions(name, principal, state.db, state.settings, page_request(viewer, None, 200))
    return render(viewer, viewer.request, "agent_diff.html", diff=diff, versions=versions.items)


@router.post("/agents/{name}")
async def edit(
    name: Name,
    viewer: CsrfViewerDep,
    system_prompt: Annotated[str, Form(max_length=8000)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    tools: Annotated[str, Form(max_length=8000)] = "",
    default_tier: Annotated[Literal["small", "large"], Form()] = "small",
    draft: Annotated[bool, Form()] = False,
    base: Annotated[int | None, Form(ge=0, le=2_147_483_647)] = None,
) -> Response:
    """A new version (a draft when asked) with the form's fields, made from the current version or from the
    version `base` names; an empty prompt keeps the base's (a prompt is never empty)."""
    principal = await viewer.check(AgentsManageDep)
    state = viewer.state
    changes: dict[str, object] = {"description": description, "tools": _tool_list(tools), "default_tier": default_tier}
    if system_prompt.strip():
        changes["system_prompt"] = system_prompt.replace("\r\n", "\n")
    try:
        body = AgentPatch.model_validate(changes)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", "the agent's fields are not valid (tool names, NUL characters)") from exc
    saved = await patch_agent(name, body, principal, state.db, state.settings, state.tools, draft, base)
    shown = f"?version={saved.version}" if saved.draft else ""
    return RedirectResponse(f"{PREFIX}/agents/{name}{shown}", status_code=303)


@router.post("/agents/{name}/versions/{version}/restore")
async def roll_back(name: Name, version: Version, viewer: CsrfViewerDep) -> Response:
    """Make the version the current one: a roll back, or a draft put live."""
    principal = await viewer.check(AgentsManageDep)
    state = viewer.state
    await activate_agent_version(name, version, principal, state.db, state.settings, state.tools, Response())
    return RedirectResponse(f"{PREFIX}/agents/{name}", status_code=303)
