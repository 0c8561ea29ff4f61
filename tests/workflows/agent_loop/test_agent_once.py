"""A conversation's run resolves its agent once and again only when the agent's stamp moves."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from agents.enablement import set_enabled
from contracts.names import ACT_PREPARE_TURN, ACT_RESOLVE_AGENT
from core.crypto import decode_history
from db.database import run_sql
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, call, plan, rows, send, start, turns_done


async def _resolutions(loop: Loop, handle: WorkflowHandle) -> int:
    """How many resolutions the run's history holds: `agents.resolve` local activities, and turn preparations
    (`router.prepare_turn`) that resolved the agent."""
    history = await decode_history(await handle.fetch_history(), loop.env.client.data_converter.payload_codec)
    count = 0
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        details = event.marker_recorded_event_attributes.details
        if "data" not in details:
            continue
        kind = json.loads(details["data"].payloads[0].data).get("activity_type")
        result = json.loads(details["result"].payloads[0].data or b"null") if "result" in details else None
        if kind == ACT_RESOLVE_AGENT or (kind == ACT_PREPARE_TURN and result and result.get("resolved")):
            count += 1
    return count


async def test_turns_reuse_the_agent_while_nothing_changes(loop: Loop) -> None:
    handle = await start(loop, "support", loop.demo.ada_id)
    sent = [await send(handle, plan({"say": f"answer {n}"})) for n in range(3)]
    await turns_done(handle, 3)
    assert [await answer(loop, message_id) for message_id in sent] == ["answer 0", "answer 1", "answer 2"]
    assert await _resolutions(loop, handle) == 1


async def test_a_tool_switched_off_reaches_the_next_turn(loop: Loop) -> None:
    handle = await start(loop, "orders", loop.demo.ada_id)
    first = await send(handle, plan(call("inventory.check", sku="SKU-MUG")))
    await turns_done(handle, 1)
    assert await answer(loop, first) == "done: inventory.check=ok"
    async with loop.db.tenant_session(loop.tenant_id) as session:
        await set_enabled(session, loop.tenant_id, "inventory.check", False)
    try:
        second = await send(handle, plan(call("inventory.check", sku="SKU-MUG")))
        await turns_done(handle, 2)
    finally:
        async with loop.db.tenant_session(loop.tenant_id) as session:
            await run_sql(session, "DELETE FROM tenant_tools WHERE tool = 'inventory.check'")
    calls = await rows(loop.db, loop.tenant_id, "SELECT status FROM tool_calls WHERE message_id = :m", m=second)
    assert calls == [{"status": "denied"}]
    # The switch moved the stamp, so the second turn resolved the agent again and lost the tool.
    assert await _resolutions(loop, handle) == 2
