"""The ingestion activities on the real database: an embedding attempt killed mid-way resumes after its last
batch (no chunk embedded twice, none missed), parsing twice leaves one set of chunks, a deleted document ends
the ingestion as `DocumentGone`, and the outcome is announced once on the tenant's stream."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from contracts.knowledge import EMBED_BATCH, KNOWLEDGE_STREAM, DocumentRef, DocumentStatus, FinishInput
from core.events import EventBus
from core.settings import Settings
from db.database import Database, run_sql
from knowledge import catalog
from knowledge.embeddings import OFFLINE_DIM, OFFLINE_MODEL
from knowledge.ingest_activities import IngestActivities
from tenancy.tenants import create_tenant

SECTIONS = 3 * EMBED_BATCH + 5


class WorkerKilled(Exception):
    """Stands for the process dying: nothing after the raise runs."""


async def _document(settings: Settings, db: Database) -> DocumentRef:
    created = await create_tenant(
        settings.database_url or "", name=f"ingest {uuid.uuid4().hex[:6]}", pepper="test-pepper"
    )
    text = "\n\n".join(f"## Topic {i}\n\nTopic {i} is about rule {i}." for i in range(SECTIONS))
    async with db.tenant_session(created.tenant_id) as session:
        collection = await catalog.create_collection(
            session, created.tenant_id, name="Help", description="", model=OFFLINE_MODEL, dim=OFFLINE_DIM
        )
        assert collection is not None
        document, _ = await catalog.add_document(
            session, created.tenant_id, collection.id, filename="topics.md", media_type="text/markdown",
            content=text.encode(), groups=[], metadata={},
        )  # fmt: skip
    return DocumentRef(tenant_id=created.tenant_id, collection_id=collection.id, document_id=document.id)


async def _embedded(db: Database, ref: DocumentRef) -> tuple[int, int]:
    async with db.tenant_session(ref.tenant_id) as session:
        row = (
            await run_sql(
                session,
                "SELECT count(*) AS total, count(embedding) AS done FROM knowledge_chunks WHERE document_id = :d",
                {"d": ref.document_id},
            )
        ).one()
    return int(row.total), int(row.done)


@pytest.fixture
async def bus(migrated: Settings) -> EventBus:
    return EventBus(Redis.from_url(migrated.redis_url or ""))


async def test_a_killed_embedding_resumes_after_its_last_batch(migrated: Settings, db: Database, bus: EventBus) -> None:
    ref = await _document(migrated, db)
    activities = IngestActivities(db, bus)
    env = ActivityEnvironment()
    parsed = await env.run(activities.parse, ref)
    assert parsed.chunks == SECTIONS
    # The first attempt dies after two batches: its heartbeat is the last thing it did.
    beats: list[object] = []

    def die_after_two(*details: object) -> None:
        beats.append(details)
        if len(beats) == 2:
            raise WorkerKilled

    env.on_heartbeat = die_after_two
    with pytest.raises(WorkerKilled):
        await env.run(activities.embed, ref)
    assert await _embedded(db, ref) == (SECTIONS, 2 * EMBED_BATCH)
    # The retry embeds only what is left, in one go.
    retry = ActivityEnvironment()
    result = await retry.run(activities.embed, ref)
    assert (result.embedded, result.remaining) == (SECTIONS - 2 * EMBED_BATCH, 0)
    assert await _embedded(db, ref) == (SECTIONS, SECTIONS)
    # Parsing again (a re-ingest) replaces the chunks: one set, to be embedded afresh.
    await ActivityEnvironment().run(activities.parse, ref)
    assert await _embedded(db, ref) == (SECTIONS, 0)


async def test_finish_announces_once_and_a_deleted_document_is_gone(
    migrated: Settings, db: Database, bus: EventBus
) -> None:
    ref = await _document(migrated, db)
    activities = IngestActivities(db, bus)
    finish = FinishInput(**ref.model_dump(), status=DocumentStatus.READY, chunks=3)
    env = ActivityEnvironment()
    await env.run(activities.finish, finish)
    await env.run(activities.finish, finish)
    completed = [e for e in await bus.history(ref.tenant_id, KNOWLEDGE_STREAM) if e.type == "ingest.completed"]
    assert [(e.data["document_id"], e.data["chunks"]) for e in completed] == [(ref.document_id, 3)]
    async with db.tenant_session(ref.tenant_id) as session:
        assert await catalog.delete_document(session, ref.collection_id, ref.document_id)
    for step in (activities.parse, activities.embed):
        with pytest.raises(ApplicationError) as gone:
            await env.run(step, ref)
        assert gone.value.type == "DocumentGone" and gone.value.non_retryable
