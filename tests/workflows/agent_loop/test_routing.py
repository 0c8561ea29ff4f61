"""A routed turn on Temporal with the real worker: the decision is in history before the model call, the
tier's model fails with 429, the fallback answers, and the ledger charges the model that answered."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from core.events import EventBus
from core.settings import Settings
from policies.circuit_breaker import CircuitBreaker
from router.health import PROVIDERS
from tests.e2e.platform import apply_migrations
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, rows, send, start, turns_done


@pytest.fixture(scope="module")
def migrated(settings: Settings) -> Iterator[Settings]:
    """No agent pinned: every turn is routed, to a small tier that is rate limited, with echo behind it."""
    apply_migrations(settings)
    yield settings.model_copy(
        update={
            "agent_models": "",
            "model_small": "scripted/error-429",
            "model_large": None,
            "router_fallbacks": json.dumps({"small": ["scripted/echo"], "large": ["scripted/echo"]}),
        }
    )


async def test_a_routed_turn_falls_back_and_bills_the_answering_model(loop: Loop, migrated: Settings) -> None:
    redis = Redis.from_url(migrated.redis_url or "")
    try:
        await CircuitBreaker(redis).reset(PROVIDERS, "scripted/error-429")
        handle = await start(loop, "leads", None)
        message_id = await send(handle, "Hello, what are your opening hours?")
        await turns_done(handle, 1)
        assert await answer(loop, message_id) == "echo: Hello, what are your opening hours?"

        events = await EventBus(redis).history(loop.tenant_id, handle.id.split(":conv:")[1])
        types = [e.type for e in events]
        decided = [e.data for e in events if e.type == "route.decided"]
        assert len(decided) == 1 and decided[0]["model"] == "scripted/error-429"
        assert decided[0]["reason"] == "classifier" and 0 <= decided[0]["p_small_pass"] <= 1
        fallback = [e.data for e in events if e.type == "model.fallback"]
        assert fallback == [
            {
                "message_id": message_id,
                "step": 0,
                "from": "scripted/error-429",
                "to": "scripted/echo",
                "cause": "ModelRateLimited",
            }
        ]
        # The decision comes before the call it routes.
        assert types.index("route.decided") < types.index("turn.started")
    finally:
        await redis.aclose()

    ledger = await rows(
        loop.db,
        loop.tenant_id,
        "SELECT model FROM usage_ledger WHERE conversation_id = :c AND kind = 'model'",
        c=handle.id.split(":conv:")[1],
    )
    assert ledger == [{"model": "scripted/echo"}]
