"""Loop safety inside the worker: a model that repeats itself is cut, counted, answered and escalated."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, call, plan, rows, send, start, turns_done
from workflows.agent_turn import CUT_ANSWER


def _cuts(reason: str) -> float:
    return REGISTRY.get_sample_value("loop_cut_total", {"reason": reason}) or 0.0


async def test_a_repeating_model_is_cut_counted_and_escalated(loop: Loop) -> None:
    demo = loop.demo
    before = _cuts("no_progress")
    handle = await start(loop, "orders", demo.ada_id)
    message_id = await send(handle, plan({"loop": [call("orders.lookup", order_id=demo.ada_placed_order_id)]}))
    done = await turns_done(handle, 1)

    assert _cuts("no_progress") == before + 1
    assert await answer(loop, message_id) == CUT_ANSWER
    calls = await rows(
        loop.db, loop.tenant_id, "SELECT tool, status FROM tool_calls WHERE message_id = :m ORDER BY step", m=message_id
    )
    assert calls == [{"tool": "orders.lookup", "status": "ok"}] * 3
    tickets = await rows(
        loop.db,
        loop.tenant_id,
        "SELECT kind, customer_id, idempotency_key FROM tickets WHERE conversation_id = :c",
        c=handle.id.rsplit(":", 1)[-1],
    )
    assert tickets == [{"kind": "escalation", "customer_id": demo.ada_id, "idempotency_key": f"turn-cut:{message_id}"}]
    # Three steps counted against the conversation, and the conversation goes on.
    assert done.status == "idle" and done.agent == "orders"
    second = await send(handle, "hello again")
    await turns_done(handle, 2)
    assert await answer(loop, second) == "echo: hello again"


async def test_a_turn_stops_at_its_step_ceiling(loop: Loop) -> None:
    demo = loop.demo
    handle = await start(loop, "orders", demo.ada_id)
    before = _cuts("max_steps_turn")
    # Eight different steps (no repeats, no cycle) are all a turn may take: the ninth is never asked for.
    steps = [call("orders.lookup", order_id=demo.ada_placed_order_id)] + [
        call("orders.list", limit=n) for n in range(1, 8)
    ]
    message_id = await send(handle, plan(*steps, {"say": "never said"}))
    await turns_done(handle, 1)

    assert await answer(loop, message_id) == CUT_ANSWER
    assert _cuts("max_steps_turn") == before + 1
    calls = await rows(loop.db, loop.tenant_id, "SELECT status FROM tool_calls WHERE message_id = :m", m=message_id)
    assert [c["status"] for c in calls] == ["ok"] * 8
