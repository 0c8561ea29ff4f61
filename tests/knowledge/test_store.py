"""What only the pgvector store promises, on the real database: the embedded server has the BM25 index and the
iterative HNSW scan, and the BM25 index scan is complete under the tenant's filters even when another tenant's
chunks match the query far better. The behaviour every store shares is in `test_store_contract.py`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.settings import Settings
from db.database import Database, run_sql
from knowledge import catalog
from knowledge.embeddings import OFFLINE_DIM
from knowledge.pgvector_search import search_sql
from knowledge.pgvector_store import PgVectorStore, capabilities
from knowledge.store import BM25, BM25_INDEX, ChunkRow, SearchQuery
from tests.knowledge.test_store_contract import tenant_with_collection

QUERY = "refund policy for damaged parcels"


def _unit(i: int) -> list[float]:
    vector = [0.0] * OFFLINE_DIM
    vector[i % OFFLINE_DIM] = 1.0
    return vector


async def _document(
    db: Database, tenant_id: str, collection_id: str, texts: list[str], *, groups: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> str:  # fmt: skip
    store = PgVectorStore(db.tenant_session)
    async with db.tenant_session(tenant_id) as session:
        document, _ = await catalog.add_document(
            session, tenant_id, collection_id, filename=f"{uuid.uuid4().hex[:6]}.txt", media_type="text/plain",
            content=uuid.uuid4().bytes, groups=groups or [], metadata=metadata or {},
        )  # fmt: skip
    rows = [ChunkRow(ord=i, text=text, heading="", page=None) for i, text in enumerate(texts)]
    await store.replace_chunks(
        tenant_id, document.id, collection_id, rows, groups=groups or [], metadata=metadata or {}
    )
    await store.set_embeddings(tenant_id, document.id, {i: _unit(i) for i in range(len(texts))}, OFFLINE_DIM)
    return document.id


@pytest.fixture
async def shop(migrated: Settings, db: Database) -> dict[str, str]:
    """A tenant with public, grouped and tagged passages; another tenant with better matches for the query."""
    tenant_id, collection_id = await tenant_with_collection(migrated, db, "store")
    _, other_collection = await tenant_with_collection(migrated, db, "other")
    public = await _document(db, tenant_id, collection_id, [
        "Our refund policy: damaged parcels are refunded in full within 30 days.",
        "Shipping takes three to five working days.",
        "Parcels can be tracked online.",
    ])  # fmt: skip
    staff = await _document(
        db, tenant_id, collection_id, ["Staff refund policy for damaged parcels."], groups=["staff"]
    )
    tagged = await _document(
        db, tenant_id, collection_id, ["Refund of damaged parcels in Canada."], metadata={"region": "ca"}
    )
    return {"tenant": tenant_id, "collection": collection_id, "public": public, "staff": staff, "tagged": tagged,
            "other_collection": other_collection}  # fmt: skip


async def test_the_embedded_server_has_the_bm25_index(db: Database) -> None:
    async with db.tenant_session(str(uuid.uuid4())) as session:
        found = await capabilities(db.tenant_session, session)
    assert found.bm25 and found.iterative


async def test_the_bm25_index_scan_is_complete_under_the_tenant_filter(
    migrated: Settings, db: Database, shop: dict[str, str]
) -> None:
    # Another tenant holds many chunks that match the query far better than anything of ours; the scan in
    # score order must pass over all of them and still return our four.
    other, other_collection = await tenant_with_collection(migrated, db, "loud")
    await _document(db, other, other_collection, [f"refund refund policy damaged parcels {i}" for i in range(300)])
    query = SearchQuery(collection_ids=[shop["collection"]], text=QUERY, vector=None, dimension=OFFLINE_DIM,
                        mode="text", groups=("staff",))  # fmt: skip
    params = {"tenant": shop["tenant"], "collections": [shop["collection"]], "groups": ["staff"], "metadata": "{}",
              "vector": None, "text": QUERY, "top_k": 10}  # fmt: skip
    async with db.tenant_session(shop["tenant"]) as session:
        # A small collection would be read through its btree; forbid the sort so the BM25 index scan runs.
        await run_sql(session, "SET LOCAL enable_sort = off")
        plan = "\n".join(r[0] for r in await run_sql(session, "EXPLAIN " + search_sql(query, BM25), params))
        rows = (await run_sql(session, search_sql(query, BM25), params)).all()
    assert f"Index Scan using {BM25_INDEX}" in plan
    expected = {(shop["public"], 0), (shop["public"], 2), (shop["staff"], 0), (shop["tagged"], 0)}
    assert {(r.document_id, r.ord) for r in rows} == expected
