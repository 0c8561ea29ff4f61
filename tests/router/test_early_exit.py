"""Early exit's cache on the real Postgres and Redis: off by default, a normalised repeat of a first question
hits, a new agent version or a knowledge change misses, and another tenant never gets the answer."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis
from temporalio.testing import ActivityEnvironment

from activities.early_exit import EARLY_EXITS, EarlyExitActivities
from activities.tenant_lifecycle import TenantLifecycleActivities
from agents import transcripts
from contracts.early_exit import EarlyExitInput, EarlyExitResult, EarlyExitStoreInput
from contracts.lifecycle import PurgeRedisInput
from core.events import EventBus
from core.settings import Settings
from db.database import Database, run_sql
from knowledge.catalog import create_collection
from router import settings_store
from router.catalog import catalog_at
from router.early_exit import cache_key, normalise
from tests.agents.conftest import new_tenant
from tests.agents.test_model_activity import _turn


@pytest.fixture
async def other_tenant(migrated: Settings) -> str:
    return await new_tenant(migrated)


async def _opt_in(db: Database, migrated: Settings, tenant: str) -> None:
    routing = await settings_store.load(db, tenant)
    wanted = dataclasses.replace(routing.settings, early_exit=True)
    await settings_store.save(db, tenant, wanted, catalog_at(migrated.router_catalog))


async def _ask(cache: EarlyExitActivities, db: Database, tenant: str, text: str, version: int = 0) -> EarlyExitResult:
    conversation_id, message_id = await _turn(db, tenant, text)
    return await cache.lookup(
        EarlyExitInput(
            tenant_id=tenant,
            conversation_id=conversation_id,
            message_id=message_id,
            agent="support",
            agent_version=version,
        )
    )


async def _answered(cache: EarlyExitActivities, tenant: str, looked: EarlyExitResult, answer: str) -> None:
    await cache.store(EarlyExitStoreInput(tenant_id=tenant, key=looked.key, answer=answer, model="scripted/agent"))


def test_normalising_folds_case_space_and_punctuation() -> None:
    assert normalise("  What are your OPENING hours?! ") == normalise("what are your opening  hours")
    assert normalise("Opening hours") != normalise("Closing hours")
    assert cache_key("t1", "support", 1, "s", "k", "Hi!") != cache_key("t2", "support", 1, "s", "k", "Hi!")


async def test_off_by_default_nothing_is_looked_up_or_kept(
    db: Database, redis: Redis, bus: EventBus, migrated: Settings, tenant: str
) -> None:
    cache = EarlyExitActivities(db, redis, bus)
    first = await _ask(cache, db, tenant, "What are your opening hours?")
    assert first == EarlyExitResult(enabled=False, key="", answer=None)
    assert (await settings_store.load(db, tenant)).settings.early_exit is False
    # The off state is remembered a while (no transaction per turn for tenants that never opt in); a worker
    # that has not seen the tenant off reads the opt-in at once.
    await _opt_in(db, migrated, tenant)
    assert not (await _ask(cache, db, tenant, "What are your opening hours?")).enabled
    assert (await _ask(EarlyExitActivities(db, redis, bus), db, tenant, "What are your opening hours?")).enabled


async def test_a_repeat_hits_and_is_announced(
    db: Database, redis: Redis, bus: EventBus, migrated: Settings, tenant: str
) -> None:
    await _opt_in(db, migrated, tenant)
    cache = EarlyExitActivities(db, redis, bus)
    first = await _ask(cache, db, tenant, "What are your opening hours?")
    assert first.enabled and first.answer is None and first.key.startswith(f"aiaas:early:{{{tenant}}}:")
    await _answered(cache, tenant, first, "We open at nine.")
    hits = EARLY_EXITS.labels(outcome="hit")._value.get()

    conversation_id, message_id = await _turn(db, tenant, "what are your  OPENING hours")
    again = await cache.lookup(
        EarlyExitInput(tenant_id=tenant, conversation_id=conversation_id, message_id=message_id, agent="support")
    )
    assert (again.answer, again.model) == ("We open at nine.", "scripted/agent")
    assert EARLY_EXITS.labels(outcome="hit")._value.get() == hits + 1
    decided = [e.data for e in await bus.history(tenant, conversation_id) if e.type == "route.decided"]
    assert decided and decided[0]["reason"] == "early_exit" and decided[0]["cost_usd"] == 0.0
    # The key names the tenant but holds no customer text.
    assert "opening" not in again.key
    assert (await redis.ttl(again.key)) > 0


async def test_only_a_first_question_qualifies(
    db: Database, redis: Redis, bus: EventBus, migrated: Settings, tenant: str
) -> None:
    await _opt_in(db, migrated, tenant)
    cache = EarlyExitActivities(db, redis, bus)
    conversation_id, first_id = await _turn(db, tenant, "Do you ship abroad?")
    first = await cache.lookup(
        EarlyExitInput(tenant_id=tenant, conversation_id=conversation_id, message_id=first_id, agent="support")
    )
    await _answered(cache, tenant, first, "Yes, to the EU.")
    second_id = str(uuid.uuid4())
    async with db.tenant_session(tenant) as session:
        await transcripts.insert_user_message(
            session,
            tenant_id=tenant,
            conversation_id=conversation_id,
            message_id=second_id,
            content="Do you ship abroad?",
            client_message_id=None,
        )
    later = await cache.lookup(
        EarlyExitInput(tenant_id=tenant, conversation_id=conversation_id, message_id=second_id, agent="support")
    )
    # The same words later in a conversation depend on what came before: neither served nor kept.
    assert later == EarlyExitResult()
    assert (await _ask(cache, db, tenant, "Do you ship abroad?")).answer == "Yes, to the EU."


async def test_a_new_agent_version_misses(
    db: Database, redis: Redis, bus: EventBus, migrated: Settings, tenant: str
) -> None:
    await _opt_in(db, migrated, tenant)
    cache = EarlyExitActivities(db, redis, bus)
    first = await _ask(cache, db, tenant, "Can I return shoes?")
    await _answered(cache, tenant, first, "Within 30 days.")
    # The resolved version differs, and so does the stored one the stamp reads.
    assert (await _ask(cache, db, tenant, "Can I return shoes?", version=1)).answer is None
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "INSERT INTO agent_definitions (tenant_id, name, version, definition, created_at, created_by)"
            " VALUES (:t, 'support', 1, CAST(:d AS jsonb), now(), 'test')",
            {"t": tenant, "d": json.dumps({"name": "support", "system_prompt": "Be brief."})},
        )
    assert (await _ask(cache, db, tenant, "Can I return shoes?")).answer is None


async def test_a_knowledge_change_misses(
    db: Database, redis: Redis, bus: EventBus, migrated: Settings, tenant: str
) -> None:
    await _opt_in(db, migrated, tenant)
    cache = EarlyExitActivities(db, redis, bus)
    first = await _ask(cache, db, tenant, "Where is the store?")
    await _answered(cache, tenant, first, "In Lyon.")
    assert (await _ask(cache, db, tenant, "Where is the store?")).answer == "In Lyon."
    async with db.tenant_session(tenant) as session:
        await create_collection(session, tenant, name="stores", description="", model="m", dim=8)
    assert (await _ask(cache, db, tenant, "Where is the store?")).answer is None


async def test_another_tenant_never_gets_the_answer(
    db: Database, redis: Redis, bus: EventBus, migrated: Settings, tenant: str, other_tenant: str
) -> None:
    await _opt_in(db, migrated, tenant)
    await _opt_in(db, migrated, other_tenant)
    cache = EarlyExitActivities(db, redis, bus)
    first = await _ask(cache, db, tenant, "What is the discount code?")
    await _answered(cache, tenant, first, "SECRET-10")
    assert (await _ask(cache, db, other_tenant, "What is the discount code?")).answer is None
    # A key of another tenant's is refused by the store, so one tenant cannot write into another's cache.
    other = await _ask(cache, db, other_tenant, "Who are you?")
    await cache.store(EarlyExitStoreInput(tenant_id=tenant, key=other.key, answer="forged", model="x"))
    assert await redis.get(other.key) is None


async def test_tenant_erasure_removes_its_kept_answers(
    db: Database, redis: Redis, bus: EventBus, migrated: Settings, tenant: str, tmp_path: Path
) -> None:
    await _opt_in(db, migrated, tenant)
    cache = EarlyExitActivities(db, redis, bus)
    first = await _ask(cache, db, tenant, "What is your address?")
    await _answered(cache, tenant, first, "1 Main Street.")
    assert await redis.exists(first.key)
    lifecycle = TenantLifecycleActivities(db, redis, None, tmp_path)  # type: ignore[arg-type]
    await ActivityEnvironment().run(lifecycle.purge_redis, PurgeRedisInput(tenant_id=tenant))
    assert not await redis.exists(first.key)
