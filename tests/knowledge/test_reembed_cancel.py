"""Cancelling a re-embed on the real database, activity by activity: a cancel recorded before the switch stops
the embedding and keeps the switch from happening, the run is marked `cancelled` and announced exactly once
(also when the worker died between recording and announcing), the partial new slot is purged and the
collection keeps serving its old model; a cancel that finds the switch done is refused and the run completes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from temporalio.testing import ActivityEnvironment

from contracts.events import EventType
from contracts.knowledge import KNOWLEDGE_STREAM, DocumentRef
from contracts.knowledge_reembed import PurgeInput, ReembedCancelInput, ReembedInput
from core.events import EventBus
from core.settings import Settings
from db.database import Database, run_sql
from knowledge import catalog, reembeds
from knowledge.embeddings import HASHING_DIM, HASHING_MODEL, OFFLINE_DIM, OFFLINE_MODEL
from knowledge.ingest_activities import IngestActivities
from knowledge.reembed_activities import ReembedActivities
from knowledge.search import search_collections
from tenancy.tenants import create_tenant

TOPICS = 40  # two embedding batches


class WorkerKilled(Exception):
    """Stands for the process dying: nothing after the raise runs."""


class DiesOnce(EventBus):
    """A bus whose first publish of `kind` is lost, as when the worker dies right after the database commit."""

    def __init__(self, redis: Redis, kind: EventType) -> None:
        super().__init__(redis)
        self._kind = kind
        self._died = False

    async def publish(
        self, tenant_id: str, conversation_id: str, event_type: EventType, data: dict[str, Any], *,
        dedup_key: str | None = None,
    ) -> str:  # fmt: skip
        if event_type == self._kind and not self._died:
            self._died = True
            raise WorkerKilled
        return await super().publish(tenant_id, conversation_id, event_type, data, dedup_key=dedup_key)


@pytest.fixture
def redis(migrated: Settings) -> Redis:
    return Redis.from_url(migrated.redis_url or "")


async def _collection(db: Database, bus: EventBus, migrated: Settings) -> tuple[str, str, reembeds.Reembed]:
    """A tenant's collection of TOPICS hashing-model chunks with a re-embed to MiniLM started."""
    tenant = await create_tenant(migrated.database_url or "", name=f"cancel {uuid.uuid4().hex[:6]}", pepper="p")
    t = tenant.tenant_id
    text = "\n\n".join(f"## Topic {i}\n\nTopic {i} explains rule number {i} of shipping." for i in range(TOPICS))
    async with db.tenant_session(t) as session:
        collection = await catalog.create_collection(
            session, t, name="Help", description="", model=HASHING_MODEL, dim=HASHING_DIM
        )
        assert collection is not None
        document, _ = await catalog.add_document(
            session, t, collection.id, filename="topics.md", media_type="text/markdown", content=text.encode(),
            groups=[], metadata={},
        )  # fmt: skip
    ref = DocumentRef(tenant_id=t, collection_id=collection.id, document_id=document.id)
    ingest = IngestActivities(db, bus)
    await ActivityEnvironment().run(ingest.parse, ref)
    while (await ActivityEnvironment().run(ingest.embed, ref)).remaining:
        pass
    async with db.tenant_session(t) as session:
        started = await reembeds.create(session, t, collection.id, model=OFFLINE_MODEL, dim=OFFLINE_DIM)
    assert started is not None
    return t, collection.id, started


async def _slots(db: Database, t: str, cid: str) -> tuple[int, int]:
    async with db.tenant_session(t) as session:
        row = (
            await run_sql(
                session,
                "SELECT count(embedding) AS old, count(embedding_alt) AS new FROM knowledge_chunks"
                " WHERE collection_id = :c",
                {"c": cid},
            )
        ).one()
    return int(row.old), int(row.new)


async def test_a_cancelled_reembed_stops_purges_its_slot_and_is_announced_once(
    migrated: Settings, db: Database, redis: Redis
) -> None:
    bus = DiesOnce(redis, EventType.REEMBED_CANCELLED)
    t, cid, started = await _collection(db, bus, migrated)
    inp = ReembedInput(tenant_id=t, collection_id=cid, reembed_id=started.id)
    activities = ReembedActivities(db, bus)
    # The first window writes a batch, then its worker dies.
    env = ActivityEnvironment()

    def die_after_a_batch(*details: Any) -> None:
        if details and "last" in details[0]:
            raise WorkerKilled

    env.on_heartbeat = die_after_a_batch
    with pytest.raises(WorkerKilled):
        await env.run(activities.embed, inp)
    assert await _slots(db, t, cid) == (TOPICS, 32)

    # The API records the cancel (under the collection's lock); the next window stops before embedding anything.
    async with db.tenant_session(t) as session:
        requested = await reembeds.request_cancel(session, started.id)
    assert requested is not None and requested.cancel_requested_at is not None and requested.status == "running"
    step = await ActivityEnvironment().run(activities.embed, inp)
    assert (step.embedded, step.remaining, step.cancel_requested) == (0, TOPICS - 32, True)
    # Nor does the switch happen, whatever is missing.
    refused = await ActivityEnvironment().run(activities.switch, inp)
    assert not refused.switched and refused.cancel_requested

    # Marked cancelled; the worker dies before announcing it; the retry announces it, once.
    cancel = ReembedCancelInput(tenant_id=t, collection_id=cid, reembed_id=started.id, reason="stopped by admin")
    with pytest.raises(WorkerKilled):
        await ActivityEnvironment().run(activities.cancel, cancel)
    assert (await ActivityEnvironment().run(activities.cancel, cancel)).cancelled
    assert (await ActivityEnvironment().run(activities.cancel, cancel)).cancelled
    events = [e for e in await bus.history(t, KNOWLEDGE_STREAM) if e.type == "reembed.cancelled"]
    assert len(events) == 1
    assert events[0].data == {
        "collection_id": cid, "reembed_id": started.id, "model": HASHING_MODEL, "abandoned_model": OFFLINE_MODEL,
        "reason": "stopped by admin",
    }  # fmt: skip

    # The partial slot is purged (twice: a retried purge finds nothing), the old one untouched.
    purge = PurgeInput(**inp.model_dump(), new_generation=True)
    await ActivityEnvironment().run(activities.purge, purge)
    await ActivityEnvironment().run(activities.purge, purge)
    assert await _slots(db, t, cid) == (TOPICS, 0)
    async with db.tenant_session(t) as session:
        collection = await catalog.get_collection(session, cid)
        final = await reembeds.get(session, started.id)
        # Finished: the collection may be re-embedded again.
        again = await reembeds.create(session, t, cid, model=OFFLINE_MODEL, dim=OFFLINE_DIM)
    assert collection is not None and (collection.embedding_model, collection.embedding_slot) == (HASHING_MODEL, 0)
    assert final is not None and (final.status, final.reason, final.switched_at) == (
        "cancelled",
        "stopped by admin",
        None,
    )
    assert again is not None
    hits = await search_collections(db.tenant_session, t, "rule number 7 of shipping", mode="vector")
    assert hits and "Topic 7" in hits[0].heading


async def _embedded(db: Database, redis: Redis, migrated: Settings) -> tuple[EventBus, ReembedActivities, ReembedInput]:
    """A collection whose re-embed has every chunk's new vector, before its switch."""
    bus = EventBus(redis)
    t, cid, started = await _collection(db, bus, migrated)
    inp = ReembedInput(tenant_id=t, collection_id=cid, reembed_id=started.id)
    activities = ReembedActivities(db, bus)
    assert (await ActivityEnvironment().run(activities.embed, inp)).remaining == 0
    return bus, activities, inp


async def test_a_cancel_after_the_switch_is_refused_and_the_run_completes(
    migrated: Settings, db: Database, redis: Redis
) -> None:
    bus, activities, inp = await _embedded(db, redis, migrated)
    t, cid = inp.tenant_id, inp.collection_id
    assert (await ActivityEnvironment().run(activities.switch, inp)).switched
    async with db.tenant_session(t) as session:
        late = await reembeds.request_cancel(session, inp.reembed_id)
    # Nothing recorded: the API answers 409 `reembed_switched`.
    assert late is not None and late.switched_at is not None and late.cancel_requested_at is None
    # A cancel that reached the workflow anyway finds the switch done: the run is not cancelled.
    cancel = ReembedCancelInput(tenant_id=t, collection_id=cid, reembed_id=inp.reembed_id)
    assert not (await ActivityEnvironment().run(activities.cancel, cancel)).cancelled
    async with db.tenant_session(t) as session:
        still = await reembeds.get(session, inp.reembed_id)
        collection = await catalog.get_collection(session, cid)
    assert still is not None and still.status == "running"
    assert collection is not None and collection.embedding_model == OFFLINE_MODEL
    assert not [e for e in await bus.history(t, KNOWLEDGE_STREAM) if e.type == "reembed.cancelled"]


async def test_a_cancel_recorded_first_keeps_a_complete_run_from_switching(
    migrated: Settings, db: Database, redis: Redis
) -> None:
    _, activities, inp = await _embedded(db, redis, migrated)
    t, cid = inp.tenant_id, inp.collection_id
    async with db.tenant_session(t) as session:
        assert await reembeds.request_cancel(session, inp.reembed_id) is not None
    # Every chunk has its new vector, but the cancel came first: no switch.
    refused = await ActivityEnvironment().run(activities.switch, inp)
    assert (refused.switched, refused.missing, refused.cancel_requested) == (False, 0, True)
    async with db.tenant_session(t) as session:
        collection = await catalog.get_collection(session, cid)
    assert collection is not None and collection.embedding_model == HASHING_MODEL
