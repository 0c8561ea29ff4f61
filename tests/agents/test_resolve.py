"""`agents.resolve`: the definition and the tools a turn may use, honouring the tenant's disabled tools, and the
candidate version for the conversations in an agent-version canary's share."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.resolve_agent import AgentActivities
from agents.definitions import save_agent
from agents.enablement import set_enabled
from agents.stamp import agent_stamp
from app.tools import platform_registry
from contracts.agents import AgentDefinition, ResolveAgentInput
from contracts.canary import AgentVersionSubject
from db.database import Database
from router import settings_store
from router.canary import SubjectCanary, assignment

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


async def test_an_agent_version_canary_resolves_its_share_and_only_its_tenants(
    db: Database, tenant: str, other_tenant: str
) -> None:
    for tid in (tenant, other_tenant):
        await _save(db, tid, description="first")
        await _save(db, tid, description="second")
    trial = assignment(tenant, AgentVersionSubject(agent="desk", version=1), 0.5)
    assert isinstance(trial, SubjectCanary)
    async with db.tenant_session(tenant) as session:
        before = await agent_stamp(session, "desk")
        await settings_store.set_subject_canary(session, tenant, trial)
        during = await agent_stamp(session, "desk")
    assert during == f"{before}:c{trial.id}"  # a run resolves again when a canary starts or ends
    ids = [f"conv-{i}" for i in range(40)]
    inside = next(c for c in ids if trial.includes(c))
    outside = next(c for c in ids if not trial.includes(c))
    activities = AgentActivities(db, AGENT_TOOLS)

    async def resolve(tid: str, conversation_id: str, agent: str = "desk") -> tuple[int, bool]:
        inp = ResolveAgentInput(tenant_id=tid, agent=agent, conversation_id=conversation_id)
        resolved = await ActivityEnvironment().run(activities.resolve, inp)
        return resolved.agent_version, resolved.canary

    assert await resolve(tenant, inside) == (1, True)
    assert await resolve(tenant, outside) == (2, False)
    assert await resolve(tenant, "") == (2, False)  # no conversation: the active version
    assert await resolve(tenant, inside, "orders") == (0, False)  # another agent of the tenant
    # Another tenant's conversations, the same ids included, run its own active version.
    assert await resolve(other_tenant, inside) == (2, False)
    async with db.tenant_session(other_tenant) as session:
        assert await settings_store.read_subject_canary(session, other_tenant) is None
