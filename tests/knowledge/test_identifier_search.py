"""Hybrid search of a query naming an identifier (a product, order or error code), on the real database with every
store of the contract tests: the chunk only full text finds reaches the top, paraphrase rankings do not move."""

from __future__ import annotations

import pytest

from core.settings import Settings
from db.database import Database
from knowledge.embeddings import OFFLINE_DIM
from knowledge.store import IDENTIFIER_TEXT_WEIGHT, KnowledgeStore, SearchQuery, fused_text_weight, has_identifier
from tests.knowledge.test_store_contract import Shop, store, tenant_with_collection

__all__ = ["store"]  # the contract tests' parametrised store fixture (pgvector's two text lists, Weaviate if set)

# More chunks about refunds than the 50 vector candidates, each closer to the query vector than the next; the coded
# chunk's vector is farther than all of them, so only the full-text list finds it (as in any sizeable collection).
ABOUT = [f"Refund note {i}: damaged parcels are refunded in full." for i in range(60)]
CODED = "The QX-4411 kettle ships with a two year warranty."


def _query_vector() -> list[float]:
    vector = [0.0] * OFFLINE_DIM
    for k in range(len(ABOUT)):
        vector[k] = float(len(ABOUT) - k)
    return vector


async def _search(shop: Shop, text: str, **kw: float) -> list[tuple[tuple[str, int], float]]:
    query = SearchQuery(
        collection_ids=[shop.collection], text=text, vector=_query_vector(), dimension=OFFLINE_DIM, top_k=10, **kw
    )
    return [((p.document_id, p.ord), p.score) for p in await shop.store.search(shop.tenant, query)]


@pytest.fixture
async def catalogue(migrated: Settings, db: Database, store: KnowledgeStore) -> Shop:
    shop = Shop(db, store, *await tenant_with_collection(migrated, db, "identifiers"))
    await shop.add("notes", ABOUT, list(range(len(ABOUT))))
    await shop.add("kettle", [CODED], [300])
    return shop


@pytest.mark.parametrize("text", ["QX-4411", "warranty for QX-4411", "qx-4411 kettle"])
async def test_an_identifier_query_finds_the_chunk_only_full_text_matches(catalogue: Shop, text: str) -> None:
    found = [hit for hit, _score in await _search(catalogue, text)]
    assert found[0] == catalogue.at("kettle", 0)
    # Before the rule (every query at the collection-wide weight) ten vector-only chunks crowded it out.
    assert catalogue.at("kettle", 0) not in [hit for hit, _ in await _search(catalogue, text, identifier_weight=0)]


@pytest.mark.parametrize("text", ["refund policy for damaged parcels", "refunds paid within 30 days"])
async def test_a_paraphrase_query_ranks_as_before(catalogue: Shop, text: str) -> None:
    ranked = await _search(catalogue, text)
    assert ranked == await _search(catalogue, text, identifier_weight=0)
    assert [hit for hit, _ in ranked] == [catalogue.at("notes", k) for k in range(10)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("QX-4411", True), ("error E1042", True), ("order 2024-0117", True), ("RFC2822 headers", True),
        ("A7B adapter", True), ("Base64 encoding", False), ("utf-8 text", False), ("python3 venv", False),
        ("refund within 30 days", False), ("x86_64 build", False),
    ],
)  # fmt: skip
def test_what_counts_as_an_identifier(text: str, expected: bool) -> None:
    assert has_identifier(text) is expected
    assert fused_text_weight(text, 0.15) == (IDENTIFIER_TEXT_WEIGHT if expected else 0.15)
    assert fused_text_weight(text, 0.15, identifier_weight=0) == 0.15
