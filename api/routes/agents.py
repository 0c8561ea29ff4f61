"""`/v1/agents`: the agents a tenant can put in front of its customers, and new versions of them.

Reads list the shipped defaults and the tenant's own agents (newest versions); a name the tenant saved hides
the shipped default of the same name, which stays readable as version 0. Both writes store the next version
after checking every tool reference against the tool registry and every handoff target against the known
agents, and record the change in the audit log in the same transaction:
- `PUT` replaces the whole definition: every field is required, so a field left out is a 422 rather than
  silently reset to a default (the body is a `GET`'s answer without `name`, `version`, `source`, `created_*`);
- `PATCH` changes the fields it names (loop limits one by one) and keeps the rest of the active version (or
  of the version `base` names, a draft included), the shipped default included; if another version is saved
  in between, it is a 409 and nothing is stored.
Either write with `draft=true` saves a draft: numbered like any version, readable, comparable, evaluable and
trialled as an agent-version canary by its number, but conversations keep the active version (the newest that
is not a draft). `POST /{name}/versions/{version}/activate` makes a version active by saving its definition
again as the next version (201), or answers the active version as it is (200).
Another tenant's agents are invisible (row-level security): they answer 404 like names nobody defined.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from agents.activation import activate_version, save_version
from agents.definitions import (
    AgentNotFound,
    StoredAgent,
    find_agent,
    last_version_number,
    list_agents,
    list_versions,
    pinned_agent_names,
)
from agents.sdk import ToolRegistry
from agents.validation import AgentInvalid
from api.deps import DatabaseDep, SettingsDep, ToolsDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from api.schemas import AgentOut, AgentPatch, AgentUpsert, AgentVersionOut
from contracts.agents import AGENT_NAME, AgentDefinition
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/agents", tags=["agents"])

AgentsReadDep = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
AgentsManageDep = Annotated[TenantPrincipal, requires(Permission.AGENTS_MANAGE)]
AgentNamePath = Annotated[str, Path(pattern=AGENT_NAME, max_length=40, description="the agent's name")]
_MAX_VERSION = 2_147_483_647
DraftQuery = Annotated[
    bool, Query(description="save a draft: readable and trialled by its number, not used by conversations")
]


def _out(stored: StoredAgent) -> AgentOut:
    definition = stored.definition
    return AgentOut(
        name=definition.name,
        version=stored.version,
        source=stored.source,  # type: ignore[arg-type]
        description=definition.description,
        system_prompt=definition.system_prompt,
        tools=list(definition.tools),
        default_tier=definition.default_tier,
        handoff_targets=list(definition.handoff_targets),
        limits=definition.limits,
        created_at=stored.created_at,
        created_by=stored.created_by,
        draft=stored.draft,
    )


def _not_found(name: str) -> ApiError:
    return ApiError(404, "agent_not_found", f"no agent named {name!r}")


@router.get("", response_model=Page[AgentOut])
async def get_agents(principal: AgentsReadDep, db: DatabaseDep, settings: SettingsDep, page: PageDep) -> Page[AgentOut]:
    """The agents the tenant can use, by name, each at its newest version."""
    async with db.tenant_session(principal.tenant_id) as session:
        agents = await list_agents(session, pinned=pinned_agent_names(settings))
    scope = page.scope("agents", principal.tenant_id)
    return page.slice([_out(agent) for agent in agents], scope, key=lambda a: (a.name,), kinds=(str,))


@router.get("/{name}", response_model=AgentOut)
async def get_agent(
    name: AgentNamePath,
    principal: AgentsReadDep,
    db: DatabaseDep,
    settings: SettingsDep,
    version: Annotated[
        int | None, Query(ge=0, le=_MAX_VERSION, description="a saved version, 0 for the shipped default")
    ] = None,
) -> AgentOut:
    async with db.tenant_session(principal.tenant_id) as session:
        found = await find_agent(session, name, version, pinned=pinned_agent_names(settings))
    # An explicit version is answered exactly: the rule's fallback to the default is for running turns.
    if found is None or (version is not None and found.version != version):
        raise _not_found(name)
    return _out(found)


@router.get("/{name}/versions", response_model=Page[AgentVersionOut])
async def get_agent_versions(
    name: AgentNamePath, principal: AgentsReadDep, db: DatabaseDep, settings: SettingsDep, page: PageDep
) -> Page[AgentVersionOut]:
    """The tenant's saved versions, newest first, then the default (version 0) if there is one."""
    async with db.tenant_session(principal.tenant_id) as session:
        versions = await list_versions(session, name, pinned=pinned_agent_names(settings))
    if not versions:
        raise _not_found(name)
    active = next((v.version for v in versions if not v.draft), None)
    listed = [
        AgentVersionOut(
            name=v.definition.name,
            version=v.version,
            source=v.source,  # type: ignore[arg-type]
            description=v.definition.description,
            created_at=v.created_at,
            created_by=v.created_by,
            draft=v.draft,
            active=v.version == active,
        )
        for v in versions
    ]
    scope = page.scope("agent-versions", principal.tenant_id, name=name)
    return page.slice(listed, scope, key=lambda v: (-v.version,), kinds=(int,))


async def _save(
    session: AsyncSession,
    principal: TenantPrincipal,
    definition: AgentDefinition,
    *,
    tools: ToolRegistry,
    pinned: frozenset[str],
    draft: bool,
    expected_version: int | None = None,
) -> AgentOut:
    try:
        stored = await save_version(
            session, principal.tenant_id, definition, principal.subject, registry=tools, pinned=pinned, draft=draft
        )
    except AgentInvalid as exc:
        raise ApiError(
            422, "agent_invalid", "the agent names tools or agents that do not exist", {"problems": exc.problems}
        ) from exc
    if expected_version is not None and stored.version != expected_version:
        # Raised inside the transaction, so the merge made from a version that is no longer current is dropped.
        raise ApiError(
            409,
            "agent_changed",
            "another version of this agent was saved meanwhile; read it and patch again",
            {"version": stored.version - 1},
        )
    row = await find_agent(session, stored.name, stored.version)
    return _out(row or StoredAgent(stored, stored.version, "tenant", created_by=principal.subject, draft=draft))


@router.put("/{name}", status_code=status.HTTP_201_CREATED, response_model=AgentOut)
async def put_agent(
    name: AgentNamePath,
    body: AgentUpsert,
    principal: AgentsManageDep,
    db: DatabaseDep,
    settings: SettingsDep,
    tools: ToolsDep,
    draft: DraftQuery = False,
) -> AgentOut:
    """Save a whole new version of the agent; every field is required (`PATCH` changes a few)."""
    definition = AgentDefinition(
        name=name,
        description=body.description,
        system_prompt=body.system_prompt,
        tools=list(body.tools),
        default_tier=body.default_tier,
        handoff_targets=list(body.handoff_targets),
        limits=body.limits.limits(),
    )
    async with db.tenant_session(principal.tenant_id) as session:
        return await _save(
            session, principal, definition, tools=tools, pinned=pinned_agent_names(settings), draft=draft
        )


@router.patch("/{name}", status_code=status.HTTP_201_CREATED, response_model=AgentOut)
async def patch_agent(
    name: AgentNamePath,
    body: AgentPatch,
    principal: AgentsManageDep,
    db: DatabaseDep,
    settings: SettingsDep,
    tools: ToolsDep,
    draft: DraftQuery = False,
    base: Annotated[
        int | None, Query(ge=0, le=_MAX_VERSION, description="the version to change; the active one if left out")
    ] = None,
) -> AgentOut:
    """Save a new version with the fields sent changed and the others as the base version has them."""
    pinned = pinned_agent_names(settings)
    async with db.tenant_session(principal.tenant_id) as session:
        current = await find_agent(session, name, base, pinned=pinned)
        if current is None or (base is not None and current.version != base):
            raise _not_found(name)
        last = await last_version_number(session, name)
        try:
            definition = body.applied_to(current.definition.model_copy(update={"name": name}))
        except ValidationError as exc:
            raise ApiError(422, "invalid_request", "the patched agent is not valid", _problems(exc)) from exc
        return await _save(
            session, principal, definition, tools=tools, pinned=pinned, draft=draft, expected_version=last + 1
        )


@router.post("/{name}/versions/{version}/activate", status_code=status.HTTP_201_CREATED, response_model=AgentOut)
async def activate_agent_version(
    name: AgentNamePath,
    version: Annotated[int, Path(ge=0, le=_MAX_VERSION, description="a saved version, 0 for the shipped default")],
    principal: AgentsManageDep,
    db: DatabaseDep,
    settings: SettingsDep,
    tools: ToolsDep,
    response: Response,
) -> AgentOut:
    """Make `version` (a draft, an older version or the default) the one conversations use: its definition is
    saved again as the next version and audited (201); the active version itself is answered as it is (200)."""
    pinned = pinned_agent_names(settings)
    async with db.tenant_session(principal.tenant_id) as session:
        try:
            saved = await activate_version(
                session, principal.tenant_id, name, version, principal.subject, registry=tools, pinned=pinned
            )
        except AgentNotFound as exc:
            raise ApiError(404, "agent_version_not_found", f"no version {version} of agent {name!r}") from exc
        except AgentInvalid as exc:
            raise ApiError(
                422,
                "agent_invalid",
                "the version names tools or agents that no longer exist",
                {"problems": exc.problems},
            ) from exc
        found = await find_agent(session, name, None if saved is None else saved.version, pinned=pinned)
    if saved is None:
        response.status_code = status.HTTP_200_OK
    if found is None:
        raise _not_found(name)
    return _out(found)


def _problems(exc: ValidationError) -> list[dict[str, object]]:
    return [{"loc": list(e["loc"]), "type": e["type"], "msg": e["msg"]} for e in exc.errors(include_input=False)]
