"""A conversation's event stream in Redis under the tenant's privacy policy: tool, saga and error events hold
none of the values the policy hides; the answer the customer reads is left as the provider boundary made it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from contracts.events import EventType
from core.events import EventBus
from core.pii import PiiDetector
from core.settings import Settings
from db.database import Database
from policies.event_privacy import EventRedaction
from policies.privacy import PrivacyPolicies, PrivacyPolicy, ProviderMode, save_policy
from tenancy.tenants import create_tenant
from tests.core.pii.values import known_values

VALUES = known_values(240, seed=99)


@pytest.fixture
async def redis(migrated: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(migrated.redis_url or "", decode_responses=False)
    yield client
    await client.aclose()


async def _tenant(settings: Settings, db: Database, policy: PrivacyPolicy | None = None) -> str:
    created = await create_tenant(
        settings.database_url or "",
        name=f"Events {uuid.uuid4().hex[:8]}",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    if policy is not None:
        async with db.tenant_session(created.tenant_id) as session:
            await save_policy(session, created.tenant_id, policy)
    return created.tenant_id


async def _publish_a_turn(bus: EventBus, tenant_id: str) -> str:
    """The events of a turn that carry text: tool calls and their results, a saga, a failure, the answer."""
    conversation_id = str(uuid.uuid4())
    values = [v for _k, v in VALUES]
    for i in range(0, len(values), 8):
        chunk = values[i : i + 8]
        await bus.publish(tenant_id, conversation_id, EventType.TOOL_STARTED, {"tool": "crm.lookup", "call_id": str(i)})
        await bus.publish(
            tenant_id,
            conversation_id,
            EventType.TOOL_COMPLETED,
            {"tool": "crm.lookup", "call_id": str(i), "summary": f"found {chunk[0]} and {chunk[1]}", "attempt": 1},
        )
        await bus.publish(
            tenant_id,
            conversation_id,
            EventType.TOOL_FAILED,
            {"tool": "payments.refund", "status": "error", "message": f"no card {chunk[2]} for {chunk[3]}"},
        )
        await bus.publish(
            tenant_id, conversation_id, EventType.SAGA_COMPENSATING, {"step": f"undo charge to {chunk[4]}", "index": i}
        )
        await bus.publish(
            tenant_id, conversation_id, EventType.TURN_FAILED, {"reason": f"{chunk[5]} {chunk[6]} {chunk[7]}"}
        )
    await bus.publish(tenant_id, conversation_id, EventType.MESSAGE_COMPLETED, {"content": f"Sent to {values[0]}"})
    return conversation_id


async def test_events_hold_no_hidden_value_and_the_answer_stays(migrated: Settings, db: Database, redis: Redis) -> None:
    bus = EventBus(redis, redactor=EventRedaction(PrivacyPolicies(db, cache_seconds=0), PiiDetector()))
    tenant_id = await _tenant(migrated, db)
    conversation_id = await _publish_a_turn(bus, tenant_id)
    events = await bus.history(tenant_id, conversation_id)
    stored = " ".join(e.to_json() for e in events[:-1])
    assert [v for _k, v in VALUES if v in stored] == []
    # Ids, tool names, counts and statuses stay; the answer the customer reads is untouched.
    assert '"tool":"crm.lookup"' in stored and '"attempt":1' in stored and "[email]" in stored
    assert events[-1].type == EventType.MESSAGE_COMPLETED and events[-1].data["content"] == f"Sent to {VALUES[0][1]}"


async def test_a_tenant_whose_boundary_is_off_keeps_its_events(migrated: Settings, db: Database, redis: Redis) -> None:
    bus = EventBus(redis, redactor=EventRedaction(PrivacyPolicies(db, cache_seconds=0), PiiDetector()))
    tenant_id = await _tenant(migrated, db, PrivacyPolicy(ProviderMode.OFF))
    conversation_id = await _publish_a_turn(bus, tenant_id)
    stored = " ".join(e.to_json() for e in await bus.history(tenant_id, conversation_id))
    assert all(v in stored for _k, v in VALUES)
