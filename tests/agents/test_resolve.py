"""`agents.resolve`: the definition and the tools a turn may use, honouring the tenant's disabled tools."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.resolve_agent import AgentActivities
from agents.definitions import save_agent
from agents.enablement import set_enabled
from app.tools import platform_registry
from contracts.agents import AgentDefinition, ResolveAgentInput
from db.database import Database

from .conftest import AGENT_TOOLS


async def _save(db: Database, tenant: str, **fields: object) -> None:
    definition = AgentDefinition(name="desk", system_prompt="You are desk.", **fields)  # type: ignore[arg-type]
    async with db.tenant_session(tenant) as session:
        await save_agent(session, tenant, definition, "tester", registry=AGENT_TOOLS)


async def test_resolve_returns_listed_visible_enabled_tools(db: Database, tenant: str) -> None:
    await _save(db, tenant, tools=["orders.lookup@1", "orders.refund"])
    activities = AgentActivities(db, AGENT_TOOLS)
    resolved = await ActivityEnvironment().run(activities.resolve, ResolveAgentInput(tenant_id=tenant, agent="desk"))
    assert resolved.agent_version == 1 and resolved.definition.name == "desk"
    assert [(s.name, s.version) for s in resolved.tools] == [("orders.lookup", 1), ("orders.refund", 1)]
    assert resolved.tools[0].activity_name == "tools.orders.lookup.v1"

    async with db.tenant_session(tenant) as session:
        await set_enabled(session, tenant, "orders.refund", False)
    resolved = await ActivityEnvironment().run(activities.resolve, ResolveAgentInput(tenant_id=tenant, agent="desk"))
    assert [s.name for s in resolved.tools] == ["orders.lookup"]
    assert resolved.tool("orders.refund") is None

    async with db.tenant_session(tenant) as session:
        await set_enabled(session, tenant, "orders.refund", True)
    resolved = await ActivityEnvironment().run(activities.resolve, ResolveAgentInput(tenant_id=tenant, agent="desk"))
    assert [s.name for s in resolved.tools] == ["orders.lookup", "orders.refund"]


async def test_one_tenants_disabled_tool_is_not_anothers(db: Database, tenant: str, other_tenant: str) -> None:
    for tid in (tenant, other_tenant):
        await _save(db, tid, tools=["orders.refund"])
    async with db.tenant_session(tenant) as session:
        await set_enabled(session, tenant, "orders.refund", False)
    activities = AgentActivities(db, AGENT_TOOLS)
    mine = await ActivityEnvironment().run(activities.resolve, ResolveAgentInput(tenant_id=tenant, agent="desk"))
    theirs = await ActivityEnvironment().run(
        activities.resolve, ResolveAgentInput(tenant_id=other_tenant, agent="desk")
    )
    assert mine.tools == [] and [s.name for s in theirs.tools] == ["orders.refund"]


async def test_shipped_agents_resolve_as_version_zero(db: Database, tenant: str) -> None:
    activities = AgentActivities(db, platform_registry())  # built-in tools included
    resolved = await ActivityEnvironment().run(activities.resolve, ResolveAgentInput(tenant_id=tenant, agent="orders"))
    assert resolved.agent_version == 0
    names = {s.name for s in resolved.tools}
    assert {"orders.place", "orders.refund", "inventory.check"} <= names
    assert all(s.agent_visible for s in resolved.tools)


async def test_unknown_agent_is_a_non_retryable_error(db: Database, tenant: str) -> None:
    activities = AgentActivities(db, AGENT_TOOLS)
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.resolve, ResolveAgentInput(tenant_id=tenant, agent="ghost"))
    assert raised.value.type == "AgentNotFound" and raised.value.non_retryable
    pinned = AgentActivities(db, AGENT_TOOLS, pinned_agents={"ghost"})
    resolved = await ActivityEnvironment().run(pinned.resolve, ResolveAgentInput(tenant_id=tenant, agent="ghost"))
    assert resolved.tools == [] and resolved.agent_version == 0
