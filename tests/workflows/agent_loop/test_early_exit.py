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
from tests.workflows.agent_loop.conversation import answer, rows, send, start, turns_done


async def _model_calls(handle: object) -> int:
    history = await handle.fetch_history()  # type: ignore[attr-defined]
    return sum(
        1
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == ACT_MODEL_COMPLETE
    )


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
