"""After a handoff the turn runs under the new agent's loop limits, with the steps already taken counted."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agents.definitions import save_agent, shipped_agents
from app.tools import platform_registry
from contracts.agents import AgentDefinition, LoopLimits
from core.settings import Settings
from tests.e2e.platform import AGENT_MODELS, apply_migrations
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, call, plan, rows, send, start, turns_done
from workflows.agent_turn import CUT_ANSWER


@pytest.fixture(scope="module")
def migrated(settings: Settings) -> Iterator[Settings]:
    """As the package's, with the tenant's own `desk` agent answering through the scripted agent model too."""
    apply_migrations(settings)
    models = {**AGENT_MODELS, "desk": "scripted/agent"}
    yield settings.model_copy(
        update={"agent_models": json.dumps(models), "model_small": "scripted/echo", "model_large": None}
    )


async def _tenant_agents(loop: Loop, desk_steps: int) -> None:
    """A strict `desk` agent, and the tenant's `support` handing off to it (the module's tenant is its own)."""
    desk = AgentDefinition(
        name="desk",
        system_prompt="You check stock.",
        tools=["inventory.check"],
        limits=LoopLimits(max_steps_per_turn=desk_steps),
    )
    support = shipped_agents()["support"].model_copy(update={"handoff_targets": ["desk"]})
    async with loop.db.tenant_session(loop.tenant_id) as session:
        await save_agent(session, loop.tenant_id, desk, "test", registry=platform_registry())
        await save_agent(session, loop.tenant_id, support, "test", registry=platform_registry())


async def test_the_agent_handed_to_brings_its_own_step_ceiling(loop: Loop) -> None:
    await _tenant_agents(loop, desk_steps=2)
    handle = await start(loop, "support", loop.demo.ada_id)
    steps = [
        call("agents.handoff", target="desk", reason="a stock question"),
        call("inventory.check", sku="SKU-MUG"),
        call("inventory.check", sku="SKU-TEE"),
        {"say": "never said"},
    ]
    message_id = await send(handle, plan(*steps))
    done = await turns_done(handle, 1)

    # Support allows eight steps a turn; desk allows two, and the handoff step was the first of them.
    assert await answer(loop, message_id) == CUT_ANSWER
    assert done.agent == "desk"
    calls = await rows(
        loop.db, loop.tenant_id, "SELECT tool FROM tool_calls WHERE message_id = :m ORDER BY step", m=message_id
    )
    assert [c["tool"] for c in calls] == ["agents.handoff", "inventory.check"]
