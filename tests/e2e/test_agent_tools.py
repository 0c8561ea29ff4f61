"""The agent loop through the gateway: tool calls, failing and refused tools, handoffs between agents."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from temporalio.common import SearchAttributeKey

from contracts.conversation import conversation_workflow_id
from db.codec import connect
from tests.e2e.agent_world import Shop, answer, call, conversation, fresh_shop, of, plan, rows, turn
from tests.e2e.platform import Platform


@pytest.fixture(scope="module")
def shop(platform: Platform) -> Iterator[Shop]:
    with fresh_shop(platform, "Agent tools") as opened:
        yield opened


def _tool_rows(platform: Platform, tenant_id: str, message_id: str) -> list[dict]:
    return rows(
        platform.settings,
        tenant_id,
        "SELECT step, call_index, call_id, tool, status, error_type FROM tool_calls WHERE message_id = :m"
        " ORDER BY step, call_index",
        m=message_id,
    )


def test_a_tool_call_feeds_the_answer(platform: Platform, shop: Shop) -> None:
    cid = conversation(shop.api, "orders", shop.demo.ada_id)
    mid, frames = turn(shop.api, cid, plan(call("orders.lookup", order_id=shop.demo.ada_placed_order_id)))

    assert answer(frames, mid) == "done: orders.lookup=ok"
    types = [f.event for f in frames if (f.data or {}).get("message_id") == mid or f.event == "message.completed"]
    assert types.index("tool.started") < types.index("tool.completed") < types.index("message.completed")
    completed = of(frames, "tool.completed", message_id=mid)
    assert [c["tool"] for c in completed] == ["orders.lookup"]
    assert shop.demo.ada_placed_order_id in completed[0]["summary"]
    # Two model calls (the tool step and the answer), one turn, one row per call.
    assert sorted({f.data["step"] for f in frames if f.event == "turn.started" and f.data}) == [0, 1]
    assert [(r["tool"], r["status"]) for r in _tool_rows(platform, shop.tenant_id, mid)] == [("orders.lookup", "ok")]


def test_a_failing_tool_is_told_to_the_model_and_the_turn_completes(platform: Platform, shop: Shop) -> None:
    cid = conversation(shop.api, "orders", shop.demo.ada_id)
    bogus = str(uuid.uuid4())
    mid, frames = turn(shop.api, cid, plan(call("orders.lookup", order_id=bogus)))

    failed = of(frames, "tool.failed", message_id=mid)
    assert [(f["tool"], f["error_type"]) for f in failed] == [("orders.lookup", "ToolNotFound")]
    # The model read the failure and answered; the turn did not fail.
    assert answer(frames, mid) == "done: orders.lookup=denied"
    assert not of(frames, "turn.failed", message_id=mid)
    assert [r["error_type"] for r in _tool_rows(platform, shop.tenant_id, mid)] == ["ToolNotFound"]


def test_a_tool_the_agent_may_not_call_is_refused_in_code(platform: Platform, shop: Shop) -> None:
    # `support` does not list orders.cancel, and `payments.refund` is a saga step no model may see.
    cid = conversation(shop.api, "support", shop.demo.ada_id)
    content = plan(
        call("orders.cancel", order_id=shop.demo.ada_placed_order_id),
        call("payments.refund", order_id=shop.demo.ada_placed_order_id, charge_id="x", amount_cents=100),
        {"say": "tried"},
    )
    mid, frames = turn(shop.api, cid, content)

    assert answer(frames, mid) == "tried"
    failed = of(frames, "tool.failed", message_id=mid)
    assert [(f["tool"], f["status"], f["error_type"]) for f in failed] == [
        ("orders.cancel", "denied", "ToolNotAllowed"),
        ("payments.refund", "denied", "ToolNotAllowed"),
    ]
    assert not of(frames, "tool.started", message_id=mid)
    order = rows(
        platform.settings, shop.tenant_id, "SELECT status FROM orders WHERE id = :id", id=shop.demo.ada_placed_order_id
    )
    assert order == [{"status": "placed"}]


def test_invalid_arguments_are_refused_before_the_tool_runs(shop: Shop) -> None:
    cid = conversation(shop.api, "orders", shop.demo.ada_id)
    mid, frames = turn(shop.api, cid, plan(call("orders.lookup", wrong="x")))

    failed = of(frames, "tool.failed", message_id=mid)
    assert [(f["tool"], f["error_type"]) for f in failed] == [("orders.lookup", "ToolInputInvalid")]
    assert "order_id" in failed[0]["message"]
    assert not of(frames, "tool.started", message_id=mid)


def _agent_attribute(platform: Platform, tenant_id: str, conversation_id: str) -> str | None:
    async def read() -> str | None:
        client = await connect(platform.settings)
        handle = client.get_workflow_handle(conversation_workflow_id(tenant_id, conversation_id))
        return (await handle.describe()).typed_search_attributes.get(SearchAttributeKey.for_keyword("Agent"))

    return asyncio.run(read())


def test_handoff_from_support_to_orders_carries_over(platform: Platform, shop: Shop) -> None:
    cid = conversation(shop.api, "support", shop.demo.ada_id)
    content = plan(
        call("agents.handoff", target="orders", reason="the customer wants to buy"),
        call("inventory.check", sku="SKU-MUG"),
    )
    mid, frames = turn(shop.api, cid, content)

    assert of(frames, "agent.handoff", message_id=mid) == [
        {"message_id": mid, "from": "support", "to": "orders", "reason": "the customer wants to buy"}
    ]
    # inventory.check is an orders tool: the rest of the turn ran as the orders agent.
    assert [c["tool"] for c in of(frames, "tool.completed", message_id=mid)] == ["agents.handoff", "inventory.check"]
    assert answer(frames, mid) == "done: inventory.check=ok"
    # Operators filtering runs by agent in Temporal UI find the conversation under the agent answering now.
    assert _agent_attribute(platform, shop.tenant_id, cid) == "orders"

    # The next message is answered by the orders agent too.
    second, frames = turn(shop.api, cid, plan(call("inventory.check", sku="SKU-TEE")))
    assert [c["tool"] for c in of(frames, "tool.completed", message_id=second)] == ["inventory.check"]
    assert shop.api.get(f"/v1/conversations/{cid}").status_code == 200


def test_handoff_to_an_agent_that_is_not_a_target_is_refused(shop: Shop) -> None:
    cid = conversation(shop.api, "orders", shop.demo.ada_id)
    mid, frames = turn(shop.api, cid, plan(call("agents.handoff", target="leads", reason="x"), {"say": "stayed"}))

    assert answer(frames, mid) == "stayed"
    assert not of(frames, "agent.handoff", message_id=mid)
    failed = of(frames, "tool.failed", message_id=mid)
    assert [(f["tool"], f["error_type"]) for f in failed] == [("agents.handoff", "HandoffRefused")]
