"""Draft agent versions: numbered and readable like any version, never what a conversation resolves to until
activated, and trialled by number as an agent-version canary."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.resolve_agent import AgentActivities
from agents.activation import activate_version, active_version, save_version
from agents.definitions import find_agent, known_agents, last_version_number, list_agents, list_versions
from agents.stamp import agent_stamp
from contracts.agents import AgentDefinition, ResolveAgentInput
from contracts.canary import AgentVersionSubject
from db.database import Database, run_sql
from router import settings_store
from router.canary import SubjectCanary, assignment

from .conftest import AGENT_TOOLS


async def _save(db: Database, tenant: str, prompt: str, *, draft: bool = False, name: str = "desk") -> int:
    definition = AgentDefinition(name=name, system_prompt=prompt)
    async with db.tenant_session(tenant) as session:
        stored = await save_version(session, tenant, definition, "tester", registry=AGENT_TOOLS, draft=draft)
    return stored.version


async def _resolve(db: Database, tenant: str, conversation_id: str = "") -> tuple[int, str, bool]:
    inp = ResolveAgentInput(tenant_id=tenant, agent="desk", conversation_id=conversation_id)
    resolved = await ActivityEnvironment().run(AgentActivities(db, AGENT_TOOLS).resolve, inp)
    return resolved.agent_version, resolved.definition.system_prompt, resolved.canary


async def test_a_draft_is_numbered_and_readable_but_conversations_keep_the_active_version(
    db: Database, tenant: str
) -> None:
    assert await _save(db, tenant, "Live one.") == 1
    async with db.tenant_session(tenant) as session:
        stamp_before = await agent_stamp(session, "desk")
    assert await _save(db, tenant, "Draft two.", draft=True) == 2
    assert await _resolve(db, tenant) == (1, "Live one.", False)
    async with db.tenant_session(tenant) as session:
        assert await agent_stamp(session, "desk") == stamp_before  # a cached run keeps its resolution
        active = await find_agent(session, "desk")
        draft = await find_agent(session, "desk", 2)
        assert active is not None and (active.version, active.draft) == (1, False)
        assert draft is not None and (draft.version, draft.draft) == (2, True)
        assert draft.definition.system_prompt == "Draft two."
        assert [(v.version, v.draft) for v in await list_versions(session, "desk")] == [(2, True), (1, False)]
        assert {a.definition.name: a.version for a in await list_agents(session)}["desk"] == 1
        assert await last_version_number(session, "desk") == 2
    # The next plain save takes the number after the draft and becomes the active version.
    assert await _save(db, tenant, "Live three.") == 3
    assert await _resolve(db, tenant) == (3, "Live three.", False)


async def test_an_agent_with_only_drafts_is_not_live_nor_a_handoff_target(db: Database, tenant: str) -> None:
    await _save(db, tenant, "Only a draft.", draft=True, name="ghost-desk")
    async with db.tenant_session(tenant) as session:
        assert await find_agent(session, "ghost-desk") is None
        assert (await find_agent(session, "ghost-desk", 1)) is not None
        assert "ghost-desk" not in {a.definition.name for a in await list_agents(session)}
        assert "ghost-desk" not in await known_agents(session)


async def test_activating_a_draft_saves_it_again_as_the_active_version_and_audits_it(db: Database, tenant: str) -> None:
    await _save(db, tenant, "Live one.")
    await _save(db, tenant, "Draft two.", draft=True)
    async with db.tenant_session(tenant) as session:
        saved = await activate_version(session, tenant, "desk", 2, "approver", registry=AGENT_TOOLS)
        again = await activate_version(session, tenant, "desk", 3, "approver", registry=AGENT_TOOLS)
    assert saved is not None and saved.version == 3 and again is None  # the active version is left as it is
    assert await _resolve(db, tenant) == (3, "Draft two.", False)
    async with db.tenant_session(tenant) as session:
        rows = await run_sql(
            session,
            "SELECT details FROM audit.events WHERE action = 'agent.saved' AND target = 'desk' ORDER BY id",
        )
        details = [row.details for row in rows]
        stored = await find_agent(session, "desk", 2)
    assert [d.get("draft", False) for d in details] == [False, True, False]
    assert details[-1]["restored_from"] == 2 and details[-1]["version"] == 3
    assert stored is not None and stored.draft  # rows never change: the draft itself stays a draft


async def test_a_draft_can_be_trialled_as_an_agent_version_canary(db: Database, tenant: str) -> None:
    await _save(db, tenant, "Live one.")
    draft = await _save(db, tenant, "Draft two.", draft=True)
    async with db.tenant_session(tenant) as session:
        # What starting a canary checks: the candidate exists and is not the active version.
        assert await active_version(session, "desk", draft) == 1
    trial = assignment(tenant, AgentVersionSubject(agent="desk", version=draft), 0.5)
    assert isinstance(trial, SubjectCanary)
    async with db.tenant_session(tenant) as session:
        await settings_store.set_subject_canary(session, tenant, trial)
    ids = [f"conv-{i}" for i in range(40)]
    inside = next(c for c in ids if trial.includes(c))
    outside = next(c for c in ids if not trial.includes(c))
    assert await _resolve(db, tenant, inside) == (2, "Draft two.", True)
    assert await _resolve(db, tenant, outside) == (1, "Live one.", False)
