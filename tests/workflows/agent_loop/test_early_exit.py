"""Early exit on Temporal with the real worker: a tenant that opted in gets a normalised repeat of an earlier
first question answered from the cache; the echo model is not called (its answer would echo the new text),
nothing is charged, and the decision is announced as `route.decided` with reason `early_exit`."""

from __future__ import annotations

import dataclasses

from redis.asyncio import Redis

from contracts.names import ACT_MODEL_COMPLETE
from core.events import EventBus
from core.settings import Settings
from router import settings_store
from router.catalog import catalog_at
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, call, plan, rows, send, start, turns_done


async def _model_calls(handle: object) -> int:
    history = await handle.fetch_history()  # type: ignore[attr-defined]
    return sum(
        1
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == ACT_MODEL_COMPLETE
    )


async def _route_reasons(migrated: Settings, tenant_id: str, handle: object) -> list[str]:
    conversation_id = handle.id.split(":conv:")[1]  # type: ignore[attr-defined]
    redis = Redis.from_url(migrated.redis_url or "")
    try:
        events = await EventBus(redis).history(tenant_id, conversation_id)
    finally:
        await redis.aclose()
    return [e.data["reason"] for e in events if e.type == "route.decided"]


async def test_a_templated_tool_answer_ends_the_turn_without_a_second_model_call(
    loop: Loop, migrated: Settings
) -> None:
    demo = loop.demo
    catalog = catalog_at(migrated.router_catalog)
    routing = await settings_store.load(loop.db, loop.tenant_id)
    # Tool answers on their own, without the repeat cache.
    on = dataclasses.replace(routing.settings, early_exit=False, tool_answers=True)
    await settings_store.save(loop.db, loop.tenant_id, on, catalog)
    question = plan(call("orders.lookup", order_id=demo.ada_placed_order_id), {"say": "the model's own words"})

    opted = await start(loop, "orders", demo.ada_id)
    # A later question of the conversation too: the rendered answer does not depend on the cache.
    await send(opted, "hello")
    await turns_done(opted, 1)
    message_id = await send(opted, question)
    await turns_done(opted, 2)
    assert await answer(loop, message_id) == f"Your order {demo.ada_placed_order_id} is placed."
    # One model call for "hello", one that chose the tool; none to word its result.
    assert await _model_calls(opted) == 2
    assert (await _route_reasons(migrated, loop.tenant_id, opted))[-1] == "tool_answer"
    completed = await rows(loop.db, loop.tenant_id, "SELECT model FROM messages WHERE reply_to = :m", m=message_id)
    assert completed == [{"model": "tool-answer"}]

    # Off: the model words the tool's result, as for every tenant that did not opt in.
    # The repeat cache alone does not shorten a tool's answer.
    off = dataclasses.replace(routing.settings, early_exit=True, tool_answers=False)
    await settings_store.save(loop.db, loop.tenant_id, off, catalog)
    plain = await start(loop, "orders", demo.ada_id)
    plain_id = await send(plain, question)
    await turns_done(plain, 1)
    assert await answer(loop, plain_id) == "the model's own words"
    assert await _model_calls(plain) == 2
    assert "tool_answer" not in await _route_reasons(migrated, loop.tenant_id, plain)


async def test_a_repeated_first_question_is_answered_without_a_model_call(loop: Loop, migrated: Settings) -> None:
    routing = await settings_store.load(loop.db, loop.tenant_id)
    opted = dataclasses.replace(routing.settings, early_exit=True)
    await settings_store.save(loop.db, loop.tenant_id, opted, catalog_at(migrated.router_catalog))

    first = await start(loop, "leads", None)
    first_id = await send(first, "Hello, what are your opening hours?")
    await turns_done(first, 1)
    assert await answer(loop, first_id) == "echo: Hello, what are your opening hours?"
    assert await _model_calls(first) == 1

    again = await start(loop, "leads", None)
    again_id = await send(again, "hello   what are your OPENING hours")
    await turns_done(again, 1)
    # The echo model would have echoed the new spelling: the earlier answer came from the cache.
    assert await answer(loop, again_id) == "echo: Hello, what are your opening hours?"
    assert await _model_calls(again) == 0

    conversation_id = again.id.split(":conv:")[1]
    redis = Redis.from_url(migrated.redis_url or "")
    try:
        events = await EventBus(redis).history(loop.tenant_id, conversation_id)
    finally:
        await redis.aclose()
    decided = [e.data for e in events if e.type == "route.decided"]
    assert [d["reason"] for d in decided] == ["early_exit"]
    ledger = await rows(
        loop.db, loop.tenant_id, "SELECT model FROM usage_ledger WHERE conversation_id = :c", c=conversation_id
    )
    assert ledger == []
