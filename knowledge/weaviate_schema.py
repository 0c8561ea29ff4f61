"""What the Weaviate store sends, computed without a server: names, objects, filters and fusion parameters.

Layout (see docs/knowledge.md#weaviate):
- one Weaviate collection per vector dimension (`{prefix}{dim}`, e.g. `AiaasChunks384`): an HNSW index holds
  vectors of one length, and a platform tenant's collections may use models of different dimensions;
- native multi-tenancy in each: one Weaviate tenant per platform tenant (`tenant_name`), so a tenant's reads and
  writes only ever touch its own shard;
- two self-provided named vectors, `slot0` and `slot1`, the chunk's two embedding slots: a re-embed builds the
  new generation in the other slot's index while searches keep reading the old one;
- one object per (chunk, slot) holding only that slot's vector, with a deterministic UUID, so a retried write
  overwrites and a slot purge is one filtered delete.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from weaviate.classes.config import DataType, Property, Tokenization
from weaviate.classes.query import BM25Operator, Filter, HybridFusion, MetadataQuery
from weaviate.collections.classes.filters import _Filters

from knowledge.store import CANDIDATES, RRF_K, Purge, SearchQuery, fused_text_weight

DEFAULT_PREFIX = "AiaasChunks"
# Full text reads the heading and the text, as the pgvector store's `heading || ' ' || text`.
TEXT_PROPERTIES = ("heading", "text")
RETURNED = ("document_id", "ord")
SLOT_VECTORS = {0: "slot0", 1: "slot1"}
# Weaviate tenant names: letters, digits, `-` and `_`, at most 64 characters.
_TENANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAMESPACE = uuid.UUID("6f1c1a52-3c7e-4b8e-9a51-0d6a2f3f1e10")


def tenant_name(tenant_id: str) -> str:
    """The Weaviate tenant of a platform tenant: its id when Weaviate accepts it as a name (platform ids are
    UUIDs), else a digest of it, so two platform tenants never share a shard."""
    if _TENANT_NAME.fullmatch(tenant_id):
        return tenant_id
    return "h-" + hashlib.sha256(tenant_id.encode()).hexdigest()[:48]


def collection_name(prefix: str, dimension: int) -> str:
    if not re.fullmatch(r"[A-Z][A-Za-z0-9_]*", prefix):
        raise ValueError(f"a Weaviate collection prefix starts with a capital letter, not {prefix!r}")
    if int(dimension) <= 0:
        raise ValueError(f"a vector dimension is positive, not {dimension}")
    return f"{prefix}{int(dimension)}"


def vector_name(slot: int) -> str:
    return SLOT_VECTORS[int(slot)]


def object_uuid(tenant_id: str, document_id: str, ord_: int, slot: int) -> uuid.UUID:
    """Stable per (tenant, document, chunk, slot): writing a chunk's vector again replaces its object."""
    return uuid.uuid5(_NAMESPACE, f"{tenant_id}\x1f{document_id}\x1f{int(ord_)}\x1f{int(slot)}")


def metadata_pairs(metadata: Mapping[str, Any]) -> list[str]:
    """A document's metadata as exact-match tokens, one per key and value: containment (`metadata @> {...}` in
    Postgres) becomes `contains_all` over these. Nested values compare as whole JSON values."""
    return sorted(json.dumps([str(k), v], sort_keys=True, separators=(",", ":")) for k, v in metadata.items())


@dataclass(frozen=True)
class ChunkObject:
    """One chunk's vector in one slot, as written to Weaviate."""

    tenant_id: str
    document_id: str
    collection_id: str
    ord: int
    slot: int
    text: str
    heading: str
    page: int | None
    groups: Sequence[str]
    metadata: Mapping[str, Any]
    vector: Sequence[float]

    def properties(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "collection_id": self.collection_id,
            "ord": int(self.ord),
            "slot": int(self.slot),
            "text": self.text,
            "heading": self.heading,
            "page": self.page if self.page is not None else -1,
            # A chunk without groups is visible to everyone: a flag, since an empty array cannot be matched.
            "public": not self.groups,
            "groups": sorted(self.groups),
            "meta_pairs": metadata_pairs(self.metadata),
        }

    def uuid(self) -> uuid.UUID:
        return object_uuid(self.tenant_id, self.document_id, self.ord, self.slot)


def properties() -> list[Property]:
    """The properties of every chunk collection. Ids, groups and metadata tokens are matched whole by filters and are
    no part of full text; heading and text are word-tokenised for BM25 (English stop words, no stemming)."""

    def exact(name: str) -> Property:
        return Property(name=name, data_type=DataType.TEXT, tokenization=Tokenization.FIELD, index_searchable=False)

    def exact_list(name: str) -> Property:
        return Property(
            name=name, data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD, index_searchable=False
        )

    return [
        exact("document_id"),
        exact("collection_id"),
        Property(name="ord", data_type=DataType.INT),
        Property(name="slot", data_type=DataType.INT),
        Property(name="page", data_type=DataType.INT, index_filterable=False),
        Property(name="text", data_type=DataType.TEXT, tokenization=Tokenization.WORD),
        Property(name="heading", data_type=DataType.TEXT, tokenization=Tokenization.WORD),
        Property(name="public", data_type=DataType.BOOL),
        exact_list("groups"),
        exact_list("meta_pairs"),
    ]


def search_filter(query: SearchQuery) -> _Filters:
    """The conditions the pgvector store puts in its SQL, as one Weaviate filter applied inside the query:
    the collections, the slot the collections read, visibility groups and metadata containment."""
    conditions: list[_Filters] = [
        Filter.by_property("collection_id").contains_any(list(query.collection_ids)),
        Filter.by_property("slot").equal(int(query.slot)),
    ]
    visible = Filter.by_property("public").equal(True)
    if query.groups:
        visible = Filter.any_of([visible, Filter.by_property("groups").contains_any(sorted(query.groups))])
    conditions.append(visible)
    if query.metadata:
        conditions.append(Filter.by_property("meta_pairs").contains_all(metadata_pairs(query.metadata)))
    return Filter.all_of(conditions)


def purge_filter(target: Purge) -> _Filters:
    """The objects a purge removes; a purge always names documents, a collection or metadata (never everything)."""
    conditions: list[_Filters] = []
    if target.document_ids:
        conditions.append(Filter.by_property("document_id").contains_any(list(target.document_ids)))
    if target.collection_id is not None:
        conditions.append(Filter.by_property("collection_id").equal(target.collection_id))
    if target.metadata:
        conditions.append(Filter.by_property("meta_pairs").contains_all(metadata_pairs(target.metadata)))
    if not conditions:
        raise ValueError("a purge names documents, a collection or metadata")
    if target.slot is not None:
        conditions.append(Filter.by_property("slot").equal(int(target.slot)))
    return conditions[0] if len(conditions) == 1 else Filter.all_of(conditions)


@dataclass(frozen=True)
class Fusion:
    """Weaviate's ranked fusion scores `alpha / (k + rank_vector) + (1 - alpha) / (k + rank_text)` with k fixed at
    60; the pgvector store scores `1 / (60 + r_v) + w / (60 + r_t)`. alpha = 1 / (1 + w) gives the same ratio of
    weights, and multiplying Weaviate's score by `scale` = 1 + w gives the same scale."""

    alpha: float
    scale: float


def fusion(text_weight: float) -> Fusion:
    weight = float(text_weight)
    if weight < 0:
        raise ValueError("the full-text weight is not negative")
    return Fusion(alpha=1.0 / (1.0 + weight), scale=1.0 + weight)


def rank_score(rank: int, weight: float = 1.0) -> float:
    """The score of the `rank`-th (from 1) hit of a single list, as the pgvector store gives it."""
    return float(weight) / (RRF_K + int(rank))


@dataclass(frozen=True)
class QueryPlan:
    """One Weaviate query for a `SearchQuery`: the query method, its arguments, and how to score its hits."""

    method: str  # near_vector | bm25 | hybrid
    arguments: dict[str, Any]
    text_weight: float
    scale: float = 1.0

    def score(self, rank: int, weaviate_score: float | None) -> float:
        """The pgvector store's score of the `rank`-th (from 1) hit."""
        if self.method == "near_vector":
            return rank_score(rank)
        if self.method == "bm25":
            return rank_score(rank, self.text_weight)
        return float(weaviate_score or 0.0) * self.scale


def query_plan(query: SearchQuery) -> QueryPlan:
    """Vector mode is a filtered `near_vector` on the slot's named vector, text mode a filtered any-word `bm25`, hybrid
    Weaviate's ranked (reciprocal rank) fusion of both with the pgvector store's weights. Without a vector, hybrid
    is full text alone, as in the pgvector store."""
    # As many hits as the pgvector store fuses per list (at least top_k): the fused order over them matches, and
    # the store still has top_k after dropping a hit the record no longer holds. Ids only, so 50 cost little.
    common: dict[str, Any] = {
        "limit": max(int(query.top_k), CANDIDATES),
        "filters": search_filter(query),
        "return_properties": list(RETURNED),
    }
    any_word = BM25Operator.or_(minimum_match=1)
    weight = fused_text_weight(query.text, query.text_weight, query.identifier_weight)
    mode = "text" if query.mode == "hybrid" and query.vector is None else query.mode
    if mode == "vector":
        if query.vector is None:
            raise ValueError("a vector search needs the query's vector")
        arguments = {"near_vector": list(query.vector), "target_vector": vector_name(query.slot), **common}
        return QueryPlan("near_vector", arguments, weight)
    if mode == "text":
        arguments = {"query": query.text, "query_properties": list(TEXT_PROPERTIES), "operator": any_word, **common}
        return QueryPlan("bm25", arguments, weight)
    if mode != "hybrid":
        raise ValueError(f"unknown search mode {query.mode!r}")
    fused = fusion(weight)
    arguments = {
        "query": query.text, "vector": list(query.vector or ()), "target_vector": vector_name(query.slot),
        "alpha": fused.alpha, "fusion_type": HybridFusion.RANKED, "query_properties": list(TEXT_PROPERTIES),
        "bm25_operator": any_word, "return_metadata": MetadataQuery(score=True), **common,
    }  # fmt: skip
    return QueryPlan("hybrid", arguments, weight, fused.scale)
