"""When Weaviate does not answer, the record does not move: a vector write or a delete that cannot reach the search
index rolls back in Postgres (and is retried by its activity or request), so the two never drift apart. Runs on
the real database with a real Weaviate client whose server is not there."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import weaviate

from core.settings import Settings
from db.database import Database, run_sql
from knowledge import catalog
from knowledge.embeddings import OFFLINE_DIM, OFFLINE_MODEL
from knowledge.store import ChunkRow, IndexUnavailable, Purge, SearchQuery
from knowledge.weaviate_index import WeaviateIndex
from knowledge.weaviate_store import WeaviateStore
from tenancy.tenants import create_tenant


@pytest.fixture
async def unreachable(db: Database) -> AsyncIterator[WeaviateStore]:
    client = weaviate.use_async_with_custom(
        http_host="127.0.0.1", http_port=9, http_secure=False, grpc_host="127.0.0.1", grpc_port=10,
        grpc_secure=False, skip_init_checks=True,
    )  # fmt: skip
    yield WeaviateStore(db.tenant_session, WeaviateIndex(client, "AiaasChunks"))
    await client.close()


async def _document(settings: Settings, db: Database) -> tuple[str, str, str]:
    created = await create_tenant(settings.database_url or "", name=f"gone {uuid.uuid4().hex[:6]}", pepper="p")
    tenant = created.tenant_id
    async with db.tenant_session(tenant) as session:
        collection = await catalog.create_collection(
            session, tenant, name="c", description="", model=OFFLINE_MODEL, dim=OFFLINE_DIM
        )
        assert collection is not None
        document, _ = await catalog.add_document(
            session, tenant, collection.id, filename="a.txt", media_type="text/plain", content=b"a", groups=[],
            metadata={},
        )  # fmt: skip
        await run_sql(
            session,
            "INSERT INTO knowledge_chunks (tenant_id, document_id, ord, collection_id, text)"
            " VALUES (:t, :d, 0, :c, 'x')",
            {"t": tenant, "d": document.id, "c": collection.id},
        )
    return tenant, collection.id, document.id


async def test_nothing_moves_in_the_record_when_the_index_does_not_answer(
    migrated: Settings, db: Database, unreachable: WeaviateStore
) -> None:
    tenant, collection, document = await _document(migrated, db)
    vector = [0.0] * OFFLINE_DIM
    vector[0] = 1.0
    with pytest.raises(IndexUnavailable):
        await unreachable.set_embeddings(tenant, document, {0: vector}, OFFLINE_DIM)
    with pytest.raises(IndexUnavailable):
        await unreachable.replace_chunks(
            tenant, document, collection, [ChunkRow(0, "y", "", None)], groups=[], metadata={}
        )
    with pytest.raises(IndexUnavailable):
        async with db.tenant_session(tenant) as session:
            assert await catalog.delete_document(session, collection, document)
            await unreachable.purge(tenant, Purge(document_ids=(document,)), session=session)
    with pytest.raises(IndexUnavailable):
        query = SearchQuery(collection_ids=[collection], text="x", vector=vector, dimension=OFFLINE_DIM)
        await unreachable.search(tenant, query)
    async with db.tenant_session(tenant) as session:
        row = (
            await run_sql(
                session,
                "SELECT c.text, c.embedding IS NULL AS bare, d.id FROM knowledge_chunks c"
                " JOIN knowledge_documents d ON d.id = c.document_id WHERE c.document_id = :d",
                {"d": document},
            )
        ).one()
    # The vector was not recorded (it would never be retried), the old chunk was not replaced, the delete undone.
    assert (row.text, row.bare, row.id) == ("x", True, document)
