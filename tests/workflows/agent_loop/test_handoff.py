"""A handoff switches the agent for the rest of the conversation, across continue-as-new too."""

from __future__ import annotations

from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, call, plan, rows, send, start, state, turns_done


async def test_the_agent_and_the_step_count_survive_continue_as_new(loop: Loop) -> None:
    demo = loop.demo
    # One turn per run: every turn after the first starts from what the previous run carried over.
    handle = await start(loop, "support", demo.ada_id, max_turns_per_run=1)
    first_run = (await handle.describe()).run_id
    handoff = call("agents.handoff", target="orders", reason="wants to order")
    first = await send(handle, plan(handoff, {"say": "the order desk here"}))
    await turns_done(handle, 1)
    assert await answer(loop, first) == "the order desk here"
    # The answer records the agent that gave it, not the one the conversation started with.
    answered_by = await rows(loop.db, loop.tenant_id, "SELECT agent FROM messages WHERE reply_to = :m", m=first)
    assert answered_by == [{"agent": "orders"}]

    carried = await state(handle)
    assert (await handle.describe()).run_id != first_run
    # Two model calls: the handoff step and the answer.
    assert carried.agent == "orders" and carried.steps_total == 2

    # `inventory.check` is an orders tool: support could not call it.
    second = await send(handle, plan(call("inventory.check", sku="SKU-MUG")))
    await turns_done(handle, 2)
    assert await answer(loop, second) == "done: inventory.check=ok"
    calls = await rows(loop.db, loop.tenant_id, "SELECT tool, status FROM tool_calls WHERE message_id = :m", m=second)
    assert calls == [{"tool": "inventory.check", "status": "ok"}]
    assert (await state(handle)).steps_total == 4
