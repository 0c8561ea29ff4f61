"""A collection re-embedded with another model (MiniLM, 384 dimensions, to the offline hashing model, 256) on the
real database, activity by activity: searches keep the old generation until the switch, a killed embedding
attempt resumes after its last batch, a document ingested meanwhile blocks the switch until it is embedded
too, the switch is atomic and complete (every chunk once, in the new slot), an ingestion write computed with
the old model is refused after the switch, the old vectors are purged, and the outcome is announced once."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis
from temporalio.testing import ActivityEnvironment

from contracts.knowledge import KNOWLEDGE_STREAM, DocumentRef
from contracts.knowledge_reembed import PurgeInput, ReembedFinishInput, ReembedInput, ReembedStatus
from core.events import EventBus
from core.settings import Settings
from db.database import Database, run_sql
from knowledge import catalog, reembeds
from knowledge.embeddings import HASHING_DIM, HASHING_MODEL, OFFLINE_DIM, OFFLINE_MODEL
from knowledge.ingest_activities import IngestActivities
from knowledge.pgvector_store import PgVectorStore
from knowledge.reembed_activities import ReembedActivities
from knowledge.search import search_collections
from tenancy.tenants import create_tenant

TOPICS = 70  # more than two embedding batches


class WorkerKilled(Exception):
    """Stands for the process dying: nothing after the raise runs."""


@pytest.fixture
async def bus(migrated: Settings) -> EventBus:
    return EventBus(Redis.from_url(migrated.redis_url or ""))


async def _ingest(db: Database, bus: EventBus, tenant_id: str, collection_id: str, name: str, text: str) -> str:
    async with db.tenant_session(tenant_id) as session:
        document, _ = await catalog.add_document(
            session, tenant_id, collection_id, filename=f"{name}.md", media_type="text/markdown",
            content=text.encode(), groups=[], metadata={},
        )  # fmt: skip
    ref = DocumentRef(tenant_id=tenant_id, collection_id=collection_id, document_id=document.id)
    activities = IngestActivities(db, bus)
    await ActivityEnvironment().run(activities.parse, ref)
    while (await ActivityEnvironment().run(activities.embed, ref)).remaining:
        pass
    return document.id


async def _slots(db: Database, tenant_id: str, collection_id: str) -> dict[str, int]:
    async with db.tenant_session(tenant_id) as session:
        row = (
            await run_sql(
                session,
                "SELECT count(*) AS chunks, count(DISTINCT (document_id, ord)) AS distinct_chunks,"
                " count(embedding) AS old, count(embedding_alt) AS new,"
                " count(*) FILTER (WHERE embedding_alt_dim = :dim) AS new_dim"
                " FROM knowledge_chunks WHERE collection_id = :c",
                {"c": collection_id, "dim": HASHING_DIM},
            )
        ).one()
    return dict(row._mapping)


async def test_a_reembed_switches_only_at_the_end_and_misses_nothing(
    migrated: Settings, db: Database, bus: EventBus
) -> None:
    tenant = await create_tenant(migrated.database_url or "", name=f"reembed {uuid.uuid4().hex[:6]}", pepper="p")
    t = tenant.tenant_id
    async with db.tenant_session(t) as session:
        collection = await catalog.create_collection(
            session, t, name="Help", description="", model=OFFLINE_MODEL, dim=OFFLINE_DIM
        )
        assert collection is not None
    cid = collection.id
    text = "\n\n".join(f"## Topic {i}\n\nTopic {i} explains rule number {i} of shipping." for i in range(TOPICS))
    await _ingest(db, bus, t, cid, "topics", text)
    async with db.tenant_session(t) as session:
        started = await reembeds.create(session, t, cid, model=HASHING_MODEL, dim=HASHING_DIM)
        assert started is not None and started.to_slot == 1
        # One re-embed at a time per collection (the partial unique index).
        assert await reembeds.create(session, t, cid, model=HASHING_MODEL, dim=HASHING_DIM) is None
    inp = ReembedInput(tenant_id=t, collection_id=cid, reembed_id=started.id)
    activities = ReembedActivities(db, bus)

    # The first attempt dies after two batches.
    env = ActivityEnvironment()
    beats: list[object] = []

    def die_after_two(*details: object) -> None:
        beats.append(details)
        if len(beats) == 2:
            raise WorkerKilled

    env.on_heartbeat = die_after_two
    with pytest.raises(WorkerKilled):
        await env.run(activities.embed, inp)
    assert (await _slots(db, t, cid))["new"] == 64
    # Mid-way, searches still read the old generation: the MiniLM vectors, the collection unchanged.
    hits = await search_collections(db.tenant_session, t, "rule number 7 of shipping", mode="vector")
    assert hits and "Topic 7" in hits[0].heading
    async with db.tenant_session(t) as session:
        still = await catalog.get_collection(session, cid)
    assert still is not None and (still.embedding_model, still.embedding_slot) == (OFFLINE_MODEL, 0)
    # Not everything is embedded yet: the switch refuses.
    refused = await ActivityEnvironment().run(activities.switch, inp)
    assert not refused.switched and refused.missing == TOPICS - 64

    # The retry embeds only what is left.
    step = await ActivityEnvironment().run(activities.embed, inp)
    assert (step.embedded, step.remaining) == (TOPICS - 64, 0)
    # A document ingested now (with the old model) must reach the new generation before the switch.
    late = await _ingest(db, bus, t, cid, "late", "## Late arrival\n\nParcels to islands take nine days.")
    late_refused = await ActivityEnvironment().run(activities.switch, inp)
    assert not late_refused.switched and late_refused.missing == 1
    assert (await ActivityEnvironment().run(activities.embed, inp)).remaining == 0
    assert (await ActivityEnvironment().run(activities.switch, inp)).switched
    assert (await ActivityEnvironment().run(activities.switch, inp)).switched  # a retried attempt: same answer

    counts = await _slots(db, t, cid)
    assert counts["chunks"] == counts["distinct_chunks"] == TOPICS + 1
    assert counts["new"] == counts["new_dim"] == TOPICS + 1
    async with db.tenant_session(t) as session:
        switched = await catalog.get_collection(session, cid)
    assert switched is not None and (switched.embedding_model, switched.embedding_dim) == (HASHING_MODEL, HASHING_DIM)
    # Vectors computed with the old model just before the switch are refused, not left in the old slot.
    store = PgVectorStore(db.tenant_session)
    stale = await store.set_embeddings(t, late, {0: [0.1] * OFFLINE_DIM}, OFFLINE_DIM, slot=0, model=OFFLINE_MODEL)
    assert stale == 0
    # Searches now read the new generation, late document included.
    hits = await search_collections(db.tenant_session, t, "parcels to islands nine days", mode="vector")
    assert hits and hits[0].document_id == late

    await ActivityEnvironment().run(activities.purge, PurgeInput(**inp.model_dump(), new_generation=False))
    counts = await _slots(db, t, cid)
    assert (counts["old"], counts["new"]) == (0, TOPICS + 1)
    done = ReembedFinishInput(**inp.model_dump(), status=ReembedStatus.COMPLETED)
    await ActivityEnvironment().run(activities.finish, done)
    await ActivityEnvironment().run(activities.finish, done)
    events = [e for e in await bus.history(t, KNOWLEDGE_STREAM) if e.type.startswith("reembed.")]
    assert [e.type for e in events].count("reembed.completed") == 1
    assert any(e.type == "reembed.progress" for e in events)
    async with db.tenant_session(t) as session:
        final = await reembeds.get(session, started.id)
        # Finished: another re-embed may start (back to MiniLM, into slot 0).
        again = await reembeds.create(session, t, cid, model=OFFLINE_MODEL, dim=OFFLINE_DIM)
    assert final is not None and final.status == "completed" and final.embedded == TOPICS + 1
    assert again is not None and again.to_slot == 0


async def test_a_failed_reembed_purges_its_partial_generation_and_keeps_serving(
    migrated: Settings, db: Database, bus: EventBus
) -> None:
    tenant = await create_tenant(migrated.database_url or "", name=f"reembed {uuid.uuid4().hex[:6]}", pepper="p")
    t = tenant.tenant_id
    async with db.tenant_session(t) as session:
        collection = await catalog.create_collection(
            session, t, name="Help", description="", model=HASHING_MODEL, dim=HASHING_DIM
        )
        assert collection is not None
    await _ingest(db, bus, t, collection.id, "one", "## Returns\n\nShoes may be returned within 30 days.")
    async with db.tenant_session(t) as session:
        started = await reembeds.create(session, t, collection.id, model=OFFLINE_MODEL, dim=OFFLINE_DIM)
    assert started is not None
    inp = ReembedInput(tenant_id=t, collection_id=collection.id, reembed_id=started.id)
    activities = ReembedActivities(db, bus)
    await ActivityEnvironment().run(activities.embed, inp)
    failed = ReembedFinishInput(**inp.model_dump(), status=ReembedStatus.FAILED, reason="re-embedding failed: x")
    await ActivityEnvironment().run(activities.finish, failed)
    await ActivityEnvironment().run(activities.purge, PurgeInput(**inp.model_dump(), new_generation=True))
    counts = await _slots(db, t, collection.id)
    assert (counts["old"], counts["new"]) == (1, 0)
    hits = await search_collections(db.tenant_session, t, "return shoes within 30 days")
    assert hits and hits[0].heading == "Returns"
    events = [e for e in await bus.history(t, KNOWLEDGE_STREAM) if e.type == "reembed.failed"]
    assert [e.data["reason"] for e in events] == ["re-embedding failed: x"]
