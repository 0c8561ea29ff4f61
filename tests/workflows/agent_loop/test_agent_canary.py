"""An agent-version canary on Temporal with the real worker: a conversation in the canary's share runs its
turns with the candidate version, one outside with the active version, and each turn's `route.decided`
says which version answered and whether the canary chose it. Ending the canary returns every conversation
to the active version at its next message."""

from __future__ import annotations

from redis.asyncio import Redis
from temporalio.client import WorkflowHandle

from agents.definitions import save_agent, shipped_agents
from app.tools import platform_registry
from contracts.canary import AgentVersionSubject
from core.events import EventBus
from core.settings import Settings
from router import settings_store
from router.canary import SubjectCanary, assignment
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import send, start, turns_done


def _conversation(handle: WorkflowHandle) -> str:
    return handle.id.split(":conv:")[1]


async def _decided(migrated: Settings, loop: Loop, handle: WorkflowHandle) -> list[dict[str, object]]:
    redis = Redis.from_url(migrated.redis_url or "")
    try:
        events = await EventBus(redis).history(loop.tenant_id, _conversation(handle))
    finally:
        await redis.aclose()
    return [dict(e.data) for e in events if e.type == "route.decided"]


async def test_the_canarys_share_runs_the_candidate_version_and_the_rest_the_active_one(
    loop: Loop, migrated: Settings
) -> None:
    tenant = loop.tenant_id
    base = shipped_agents()["leads"]
    async with loop.db.tenant_session(tenant) as session:
        for prompt in ("Candidate prompt.", "Active prompt."):
            await save_agent(
                session, tenant, base.model_copy(update={"system_prompt": prompt}), "test", registry=platform_registry()
            )
    trial = assignment(tenant, AgentVersionSubject(agent="leads", version=1), 0.5)
    assert isinstance(trial, SubjectCanary)
    async with loop.db.tenant_session(tenant) as session:
        await settings_store.set_subject_canary(session, tenant, trial)

    handles: dict[bool, WorkflowHandle] = {}
    while len(handles) < 2:
        handle = await start(loop, "leads", None)
        handles.setdefault(trial.includes(_conversation(handle)), handle)
    for handle in handles.values():
        await send(handle, "Hello, we would like to buy in bulk.")
        await turns_done(handle, 1)

    inside, outside = await _decided(migrated, loop, handles[True]), await _decided(migrated, loop, handles[False])
    assert [(d["agent_version"], d["canary"]) for d in inside] == [(1, ["agent_version"])]
    assert [(d["agent_version"], d["canary"]) for d in outside] == [(2, [])]

    # The canary ends: the next message of the conversation in its share runs the active version.
    async with loop.db.tenant_session(tenant) as session:
        await settings_store.end_subject_canary(session, tenant, trial.id)
    await send(handles[True], "And what happens next?")
    await turns_done(handles[True], 2)
    after = await _decided(migrated, loop, handles[True])
    assert [(d["agent_version"], d["canary"]) for d in after] == [(1, ["agent_version"]), (2, [])]
