"""The Weaviate adapter's server-free parts: tenant and collection naming, object identity, the filters it sends
(evaluated on the objects it writes, with Weaviate's documented operator semantics, and serialised by the client's
own gRPC encoder), the fusion parameters, and the start failing clearly when WEAVIATE_URL names no server."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from weaviate.classes.config import DataType, Tokenization
from weaviate.collections.classes.filters import _FilterAnd, _FilterOr, _Filters, _FilterValue, _Operator
from weaviate.collections.filters import _FilterToGRPC

from core.settings import Settings
from knowledge import backends
from knowledge.pgvector_store import PgVectorStore
from knowledge.store import Purge, SearchQuery, WeaviateUnavailable
from knowledge.weaviate_schema import (
    ChunkObject,
    collection_name,
    fusion,
    object_uuid,
    properties,
    purge_filter,
    query_plan,
    search_filter,
    tenant_name,
)


def _targets(where: _Filters) -> set[str]:
    if isinstance(where, _FilterAnd | _FilterOr):
        return set().union(*(_targets(f) for f in where.filters))
    assert isinstance(where, _FilterValue)
    return {str(where.target)}


def _matches(where: _Filters, properties: dict[str, Any]) -> bool:
    """Weaviate's semantics of the operators the adapter uses, applied to an object's properties."""
    if isinstance(where, _FilterAnd):
        return all(_matches(f, properties) for f in where.filters)
    if isinstance(where, _FilterOr):
        return any(_matches(f, properties) for f in where.filters)
    assert isinstance(where, _FilterValue)
    value = properties[str(where.target)]  # a filter on an undeclared property fails here
    wanted = where.value
    if where.operator == _Operator.EQUAL:
        return bool(value == wanted)
    values = value if isinstance(value, list) else [value]
    if where.operator == _Operator.CONTAINS_ANY:
        return any(v in values for v in wanted)  # type: ignore[union-attr]
    if where.operator == _Operator.CONTAINS_ALL:
        return all(v in values for v in wanted)  # type: ignore[union-attr]
    raise AssertionError(f"an operator the adapter does not use: {where.operator}")


def _chunk(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "tenant_id": "t1", "document_id": "d1", "collection_id": "c1", "ord": 0, "slot": 0, "text": "x",
        "heading": "", "page": None, "groups": [], "metadata": {}, "vector": [1.0, 0.0],
    }  # fmt: skip
    fields.update(over)
    return ChunkObject(**fields).properties()


def _query(**over: Any) -> SearchQuery:
    fields: dict[str, Any] = {"collection_ids": ["c1"], "text": "refund", "vector": [1.0, 0.0], "dimension": 2}
    fields.update(over)
    return SearchQuery(**fields)


def test_a_platform_tenant_gets_a_weaviate_tenant_of_its_own() -> None:
    tenant = str(uuid.uuid4())
    assert tenant_name(tenant) == tenant
    odd = [f"acme:{i}" for i in range(50)] + ["a" * 65, "ünïcode", ""]
    names = {tenant_name(t) for t in odd}
    assert len(names) == len(odd)  # never two platform tenants in one shard
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", n) for n in names)
    assert tenant_name("acme:1") == tenant_name("acme:1")


def test_collections_are_per_dimension_and_objects_per_chunk_and_slot() -> None:
    assert collection_name("AiaasChunks", 384) == "AiaasChunks384"
    with pytest.raises(ValueError):
        collection_name("chunks", 384)  # Weaviate collection names start with a capital
    with pytest.raises(ValueError):
        collection_name("AiaasChunks", 0)
    first = object_uuid("t1", "d1", 3, 0)
    assert first == object_uuid("t1", "d1", 3, 0)  # a retried write overwrites
    assert (
        len({first, object_uuid("t1", "d1", 3, 1), object_uuid("t2", "d1", 3, 0), object_uuid("t1", "d1", 4, 0)}) == 4
    )


def test_visibility_groups_are_applied_inside_the_query() -> None:
    public, staff = _chunk(), _chunk(groups=["staff", "vip"])
    anonymous = search_filter(_query())
    assert _matches(anonymous, public) and not _matches(anonymous, staff)
    as_vip = search_filter(_query(groups=("vip",)))
    assert _matches(as_vip, public) and _matches(as_vip, staff)
    assert not _matches(search_filter(_query(groups=("other",))), staff)


def test_collection_slot_and_metadata_are_applied_inside_the_query() -> None:
    tagged = _chunk(metadata={"region": "ca", "lang": "en"})
    assert _matches(search_filter(_query(metadata={"region": "ca"})), tagged)
    assert _matches(search_filter(_query(metadata={"region": "ca", "lang": "en"})), tagged)
    assert not _matches(search_filter(_query(metadata={"region": "ca", "lang": "fr"})), tagged)
    assert not _matches(search_filter(_query(metadata={"region": "ca"})), _chunk())
    # A value compares whole: "c" is not "ca", 1 is not "1".
    assert not _matches(search_filter(_query(metadata={"region": "c"})), tagged)
    assert not _matches(search_filter(_query(metadata={"n": 1})), _chunk(metadata={"n": "1"}))
    assert not _matches(search_filter(_query(collection_ids=["c2"])), tagged)
    assert _matches(search_filter(_query(collection_ids=["c2", "c1"])), tagged)
    assert not _matches(search_filter(_query(slot=1)), tagged)
    assert _matches(search_filter(_query(slot=1)), _chunk(slot=1))
    # The client encodes it for gRPC: every operator and value is one Weaviate accepts.
    encoded = _FilterToGRPC.convert(search_filter(_query(groups=("vip",), metadata={"region": "ca"})))
    assert len(encoded.filters) == 4


def test_purges_select_exactly_their_objects() -> None:
    doc1, doc2 = _chunk(), _chunk(document_id="d2", collection_id="c2", metadata={"customer_id": "cu1"})
    assert [_matches(purge_filter(Purge(document_ids=("d1",))), o) for o in (doc1, doc2)] == [True, False]
    assert [_matches(purge_filter(Purge(collection_id="c2")), o) for o in (doc1, doc2)] == [False, True]
    erasure = purge_filter(Purge(metadata={"customer_id": "cu1"}))
    assert [_matches(erasure, o) for o in (doc1, doc2)] == [False, True]
    old_slot = purge_filter(Purge(collection_id="c1", slot=1))
    assert not _matches(old_slot, doc1) and _matches(old_slot, _chunk(slot=1))
    with pytest.raises(ValueError):
        Purge()  # never everything
    with pytest.raises(ValueError):
        Purge(slot=1)  # a slot of which collection?


def test_the_declared_properties_are_those_written_and_filtered_on() -> None:
    declared = {p.name: p for p in properties()}
    assert set(_chunk()) == set(declared)
    filtered = _targets(search_filter(_query(groups=("g",), metadata={"k": "v"}))) | _targets(
        purge_filter(Purge(document_ids=("d",), collection_id="c", metadata={"k": "v"}, slot=1))
    )
    assert filtered <= set(declared)
    for name in filtered:
        prop = declared[name]
        assert prop.indexFilterable is not False
        if prop.dataType in (DataType.TEXT, DataType.TEXT_ARRAY):
            # Matched whole: a word-tokenised id or group would match on any of its words.
            assert (prop.tokenization, prop.indexSearchable) == (Tokenization.FIELD, False), name
    assert {n for n, p in declared.items() if p.indexSearchable is not False and p.dataType == DataType.TEXT} == {
        "heading", "text",
    }  # fmt: skip


@pytest.mark.parametrize("weight", [0.0, 0.15, 1.0, 3.0])
def test_ranked_fusion_reproduces_the_pgvector_score(weight: float) -> None:
    fused = fusion(weight)
    for vector_rank, text_rank in [(1, 1), (1, 7), (12, 2), (50, 49)]:
        k = 60  # the constant of both; Weaviate's fixed one is discussed in docs/knowledge.md
        weaviate = fused.alpha / (k + vector_rank) + (1 - fused.alpha) / (k + text_rank)
        assert weaviate * fused.scale == pytest.approx(1 / (k + vector_rank) + weight / (k + text_rank))
    with pytest.raises(ValueError):
        fusion(-0.1)


def test_each_mode_becomes_its_weaviate_query() -> None:
    hybrid = query_plan(_query(slot=1, top_k=7, text_weight=0.15))
    assert hybrid.method == "hybrid"
    args = hybrid.arguments
    target = ("slot1", 50, "refund", "RANKED")  # 50 candidates, as pgvector fuses per list; the store keeps top_k
    assert (args["target_vector"], args["limit"], args["query"], args["fusion_type"].name) == target
    assert query_plan(_query(top_k=80)).arguments["limit"] == 80
    assert args["alpha"] == pytest.approx(1 / 1.15) and hybrid.score(1, 0.02) == pytest.approx(0.02 * 1.15)
    assert args["query_properties"] == ["heading", "text"] and args["bm25_operator"].minimum_should_match == 1
    vector = query_plan(_query(mode="vector"))
    assert (vector.method, vector.arguments["target_vector"], vector.score(2, None)) == ("near_vector", "slot0", 1 / 62)
    text = query_plan(_query(mode="text", text_weight=0.15))
    assert (text.method, text.score(1, 9.9)) == ("bm25", pytest.approx(0.15 / 61))
    assert "near_vector" not in text.arguments and "vector" not in text.arguments
    assert query_plan(_query(vector=None)).method == "bm25"  # hybrid without a vector: full text alone
    with pytest.raises(ValueError):
        query_plan(_query(mode="vector", vector=None))


async def test_the_default_backend_is_pgvector() -> None:
    await backends.open_backend(Settings())
    assert type(backends.store_for(object())) is PgVectorStore


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "weaviate.internal:8080"])
async def test_an_unreachable_weaviate_fails_the_start_and_says_why(url: str) -> None:
    with pytest.raises(WeaviateUnavailable, match=re.escape(url)):
        await backends.open_backend(Settings(WEAVIATE_URL=url))  # type: ignore[call-arg]
    assert type(backends.store_for(object())) is PgVectorStore


def test_a_query_naming_an_identifier_is_fused_with_the_raised_text_weight_as_in_pgvector() -> None:
    # The same rule as pgvector's SQL (`fused_text_weight`): an identifier raises the text list's weight to 10.
    coded = query_plan(_query(text="error E1042 on startup", text_weight=0.15))
    assert coded.arguments["alpha"] == pytest.approx(1 / 11) and coded.score(1, 0.02) == pytest.approx(0.22)
    assert query_plan(_query(text="E1042", mode="text")).score(1, None) == pytest.approx(10 / 61)
    assert query_plan(_query(text="refund within 30 days")).arguments["alpha"] == pytest.approx(1 / 1.15)
    # Off (identifier_weight 0): every query keeps the collection-wide weight.
    assert query_plan(_query(text="E1042", identifier_weight=0)).arguments["alpha"] == pytest.approx(1 / 1.15)
