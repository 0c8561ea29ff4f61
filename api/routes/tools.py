"""`/v1/tools`: the tools a tenant's agents may be given, switching them on or off for the tenant, and the
state of each tool's circuit breaker for the tenant (`policies/circuit_breaker.py`), which an admin may close
once the dependency behind it is back (`DELETE /v1/tools/{name}/breaker`, audited).

The catalogue is the registry the gateway was built with (agent-visible tools and saga tools; the steps only
sagas call stay hidden); whether each is enabled is the tenant's own `tenant_tools` row, or the default. A
change is audited in the same transaction and reaches every worker's enablement cache at once through its
Redis version key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from agents.enablement import set_enabled
from agents.sdk import Tool, ToolRegistry
from api.deps import DatabaseDep, StateDep, ToolEnablementDep, ToolsDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from contracts.agents import TOOL_NAME, ApprovalRule, Effect
from policies.circuit_breaker import CircuitBreaker
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

log = structlog.get_logger("aiaas.api.tools")

router = APIRouter(prefix="/v1/tools", tags=["tools"])

TenantReadDep = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
AgentsManageDep = Annotated[TenantPrincipal, requires(Permission.AGENTS_MANAGE)]
ToolName = Annotated[str, Path(description="the tool's dotted name", max_length=96, pattern=TOOL_NAME.pattern)]


class ToolOut(BaseModel):
    name: str
    version: int = Field(description="the latest version, what an agent without a pin gets")
    versions: list[int]
    description: str
    input_schema: dict[str, Any] = Field(
        description="JSON Schema of the arguments the latest version takes, as the model is shown them"
    )
    effect: Effect
    approval: ApprovalRule | None
    saga: bool
    enabled: bool
    breaker: Literal["closed", "open", "half_open"] = Field(
        description="the tenant's circuit for this tool: open fails calls fast; half_open lets one probe through"
    )


class ToolToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


def _catalogue(registry: ToolRegistry) -> dict[str, list[Tool]]:
    """Listed tools by name, versions ascending."""
    listed: dict[str, list[Tool]] = {}
    for item in registry.all():
        if item.spec.agent_visible or item.spec.saga:
            listed.setdefault(item.spec.name, []).append(item)
    return listed


def known_tool(tools: ToolRegistry, name: str) -> list[Tool]:
    """The listed tool's versions, ascending; 404 for a name that is not listed (hidden saga steps included)."""
    versions = _catalogue(tools).get(name)
    if versions is None:
        raise ApiError(404, "tool_not_found", "no such tool", {"name": name})
    return versions


def _out(versions: list[Tool], enabled: bool, breaker: str) -> ToolOut:
    latest = versions[-1].spec
    return ToolOut(
        name=latest.name,
        version=latest.version,
        versions=[item.spec.version for item in versions],
        description=latest.description,
        input_schema=latest.input_schema or {"type": "object", "properties": {}},
        effect=latest.effect,
        approval=latest.approval,
        saga=latest.saga is not None,
        enabled=enabled,
        breaker=breaker,  # type: ignore[arg-type]
    )


@router.get("", response_model=Page[ToolOut])
async def list_tools(
    principal: TenantReadDep, tools: ToolsDep, enablement: ToolEnablementDep, state: StateDep, page: PageDep
) -> Page[ToolOut]:
    """The tool catalogue by name, with each tool's argument schema, whether the tenant has it enabled and the
    state of its circuit breaker."""
    catalogue = _catalogue(tools)
    names = sorted(catalogue)
    enabled = await enablement.enabled_map(principal.tenant_id, names)
    breakers = await CircuitBreaker(state.redis).states(principal.tenant_id, names)
    listed = [_out(catalogue[name], enabled[name], breakers[name]) for name in names]
    return page.slice(listed, page.scope("tools", principal.tenant_id), key=lambda t: (t.name,), kinds=(str,))


@router.put("/{name}", response_model=ToolOut)
async def set_tool(
    name: ToolName,
    body: ToolToggle,
    principal: AgentsManageDep,
    db: DatabaseDep,
    tools: ToolsDep,
    enablement: ToolEnablementDep,
    state: StateDep,
) -> ToolOut:
    versions = known_tool(tools, name)
    async with db.tenant_session(principal.tenant_id) as session:
        before = await set_enabled(session, principal.tenant_id, name, body.enabled)
        if before != body.enabled:
            await record_event(
                session,
                tenant_id=principal.tenant_id,
                actor=principal.subject,
                action="tool.enabled" if body.enabled else "tool.disabled",
                target=name,
                details={"previous": before},
            )
    try:
        await enablement.invalidate(principal.tenant_id)
    except Exception:
        # Committed all the same; other processes then notice within their cache lifetime.
        log.warning("could not publish a tool enablement change", exc_info=True)
    return _out(versions, body.enabled, await CircuitBreaker(state.redis).state(principal.tenant_id, name))


@router.delete("/{name}/breaker", status_code=status.HTTP_204_NO_CONTENT)
async def reset_breaker(
    name: ToolName, principal: AgentsManageDep, db: DatabaseDep, tools: ToolsDep, state: StateDep
) -> Response:
    """Close the tenant's circuit for this tool and forget its recent failures: the next call goes through."""
    known_tool(tools, name)
    breaker = CircuitBreaker(state.redis)
    before = await breaker.state(principal.tenant_id, name)
    await breaker.reset(principal.tenant_id, name)
    async with db.tenant_session(principal.tenant_id) as session:
        await record_event(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.subject,
            action="tool.breaker_reset",
            target=name,
            details={"previous": before},
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
