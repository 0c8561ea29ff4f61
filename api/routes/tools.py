"""`/v1/tools`: the tools a tenant's agents may be given, and switching them on or off for the tenant.

The catalogue is the platform's registry (agent-visible tools and saga tools; the steps only sagas call stay
hidden); whether each is enabled is the tenant's own `tenant_tools` row, or the default. A change is audited
in the same transaction and reaches every worker's enablement cache at once through its Redis version key.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from agents.enablement import ToolEnablement, set_enabled
from agents.sdk import Tool, ToolRegistry
from api.deps import StateDep, requires
from api.errors import ApiError
from api.state import GatewayState
from app.tools import platform_registry
from contracts.agents import TOOL_NAME, ApprovalRule, Effect
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
    effect: Effect
    approval: ApprovalRule | None
    saga: bool
    enabled: bool


class ToolToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


_registry: ToolRegistry | None = None


def _catalogue() -> dict[str, list[Tool]]:
    """Listed tools by name, versions ascending; loaded once per process."""
    global _registry
    if _registry is None:
        _registry = platform_registry()
    listed: dict[str, list[Tool]] = {}
    for item in _registry.all():
        if item.spec.agent_visible or item.spec.saga:
            listed.setdefault(item.spec.name, []).append(item)
    return listed


def _out(versions: list[Tool], enabled: bool) -> ToolOut:
    latest = versions[-1].spec
    return ToolOut(
        name=latest.name,
        version=latest.version,
        versions=[item.spec.version for item in versions],
        description=latest.description,
        effect=latest.effect,
        approval=latest.approval,
        saga=latest.saga is not None,
        enabled=enabled,
    )


def _enablement(request: Request, state: GatewayState) -> ToolEnablement:
    # One per app; its cache is checked against the tenant's version key in Redis on every read.
    existing = getattr(request.app.state, "tool_enablement", None)
    if not isinstance(existing, ToolEnablement):
        existing = ToolEnablement(state.db, redis=state.redis, registry=_registry)
        request.app.state.tool_enablement = existing
    return existing


@router.get("", response_model=list[ToolOut])
async def list_tools(request: Request, principal: TenantReadDep, state: StateDep) -> list[ToolOut]:
    catalogue = _catalogue()
    enabled = await _enablement(request, state).enabled_map(principal.tenant_id, sorted(catalogue))
    return [_out(catalogue[name], enabled[name]) for name in sorted(catalogue)]


@router.put("/{name}", response_model=ToolOut)
async def set_tool(
    request: Request, name: ToolName, body: ToolToggle, principal: AgentsManageDep, state: StateDep
) -> ToolOut:
    versions = _catalogue().get(name)
    if versions is None:
        raise ApiError(404, "tool_not_found", "no such tool", {"name": name})
    async with state.db.tenant_session(principal.tenant_id) as session:
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
    enablement = _enablement(request, state)
    try:
        await enablement.invalidate(principal.tenant_id)
    except Exception:
        # Committed all the same; other processes then notice within their cache lifetime.
        log.warning("could not publish a tool enablement change", exc_info=True)
    return _out(versions, body.enabled)
