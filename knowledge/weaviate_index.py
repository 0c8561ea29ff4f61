"""The Weaviate side of `WeaviateStore`: the connection, collections per dimension, tenants, writes, deletes and
queries. Every call names its tenant (`with_tenant`), so no request can reach another tenant's shard.

What is sent is computed in `knowledge.weaviate_schema` (tested without a server); this module only talks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
import weaviate
from weaviate.classes.config import Configure, StopwordsPreset, VectorDistances
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.tenants import Tenant
from weaviate.collections.classes.filters import _Filters
from weaviate.exceptions import WeaviateBaseError

from knowledge.store import IndexUnavailable, SearchQuery, WeaviateUnavailable
from knowledge.weaviate_schema import (
    SLOT_VECTORS,
    ChunkObject,
    collection_name,
    properties,
    query_plan,
    tenant_name,
    vector_name,
)

log = structlog.get_logger(__name__)

_MAX_DELETE_ROUNDS = 1000
_PROBE_SECONDS = 5.0


class WeaviateWriteFailed(IndexUnavailable):
    """Weaviate refused objects of a batch; the record's transaction rolls back and the activity retries."""


async def _probe(url: str, api_key: str | None) -> None:
    """Weaviate's readiness endpoint, asked once with a short timeout: the client's own connect retries an unreachable
    server with backoff for about 15 s before failing; a start should fail at once and say why."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with httpx.AsyncClient(timeout=_PROBE_SECONDS) as client:
            response = await client.get(url.rstrip("/") + "/v1/.well-known/ready", headers=headers)
    except httpx.HTTPError as exc:
        raise WeaviateUnavailable(f"WEAVIATE_URL is {url} but Weaviate cannot be reached there: {exc!r}") from exc
    if response.status_code != 200:
        raise WeaviateUnavailable(
            f"WEAVIATE_URL is {url} but Weaviate there is not ready"
            f" (HTTP {response.status_code} from /v1/.well-known/ready)"
        )


class WeaviateIndex:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        collection_name(prefix, 1)  # the prefix is checked once, here
        self._tenants: set[tuple[str, str]] = set()  # (collection, tenant) known to exist

    @classmethod
    async def connect(cls, url: str, *, api_key: str | None, grpc_port: int, prefix: str) -> WeaviateIndex:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WeaviateUnavailable(f"WEAVIATE_URL must be an http(s) URL, not {url!r}")
        secure = parts.scheme == "https"
        await _probe(url, api_key)
        try:
            client = weaviate.use_async_with_custom(
                http_host=parts.hostname, http_port=parts.port or (443 if secure else 80), http_secure=secure,
                grpc_host=parts.hostname, grpc_port=grpc_port, grpc_secure=secure,
                auth_credentials=Auth.api_key(api_key) if api_key else None,
                additional_config=AdditionalConfig(timeout=Timeout(init=10, query=30, insert=60)),
                # The client's own checks would ask PyPI for its latest version: nothing is fetched at run time.
                skip_init_checks=True,
            )  # fmt: skip
        except ValueError as exc:  # e.g. the gRPC port equal to the HTTP port on one host
            raise WeaviateUnavailable(f"WEAVIATE_URL {url} with gRPC port {grpc_port} is not usable: {exc}") from exc
        try:
            await client.connect()
            ready = await client.is_ready()
        except (WeaviateBaseError, OSError) as exc:
            await client.close()
            raise WeaviateUnavailable(
                f"WEAVIATE_URL is {url} but Weaviate cannot be reached there (gRPC port {grpc_port}): {exc}"
            ) from exc
        if not ready:
            await client.close()
            raise WeaviateUnavailable(f"WEAVIATE_URL is {url} but Weaviate there is not ready")
        log.info("knowledge.weaviate_connected", url=url, prefix=prefix)
        return cls(client, prefix)

    async def close(self) -> None:
        await self._client.close()

    async def dimensions(self) -> list[int]:
        """The dimensions that have a collection (a purge looks in each)."""
        pattern = re.compile(re.escape(self._prefix) + r"(\d+)")
        names = await self._client.collections.list_all(simple=True)
        return sorted(int(m.group(1)) for name in names if (m := pattern.fullmatch(name)))

    async def _collection(self, dimension: int, *, create: bool) -> Any | None:
        name = collection_name(self._prefix, dimension)
        if await self._client.collections.exists(name):
            return self._client.collections.use(name)
        if not create:
            return None
        try:
            await self._client.collections.create(
                name,
                multi_tenancy_config=Configure.multi_tenancy(enabled=True),
                vector_config=[
                    Configure.Vectors.self_provided(
                        name=vector,
                        vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE),
                    )
                    for vector in SLOT_VECTORS.values()
                ],
                properties=properties(),
                inverted_index_config=Configure.inverted_index(
                    bm25_k1=1.2, bm25_b=0.75, stopwords_preset=StopwordsPreset.EN
                ),
            )
        except WeaviateBaseError:
            if not await self._client.collections.exists(name):  # another process created it meanwhile: fine
                raise
        return self._client.collections.use(name)

    async def _tenant(self, dimension: int, tenant_id: str, *, create: bool) -> Any | None:
        """The collection bound to the tenant's shard; None when reading a shard never written."""
        collection = await self._collection(dimension, create=create)
        if collection is None:
            return None
        name = tenant_name(tenant_id)
        key = (collection.name, name)
        if key not in self._tenants:
            if not await collection.tenants.exists(name):
                if not create:
                    return None
                try:
                    await collection.tenants.create([Tenant(name=name)])
                except WeaviateBaseError:
                    if not await collection.tenants.exists(name):
                        raise
            self._tenants.add(key)
        return collection.with_tenant(name)

    async def write(self, tenant_id: str, dimension: int, objects: Sequence[ChunkObject]) -> None:
        if not objects:
            return
        try:
            await self._write(tenant_id, dimension, objects)
        except WeaviateBaseError as exc:
            raise IndexUnavailable(f"Weaviate write failed: {exc}") from exc

    async def _write(self, tenant_id: str, dimension: int, objects: Sequence[ChunkObject]) -> None:
        shard = await self._tenant(dimension, tenant_id, create=True)
        assert shard is not None
        result = await shard.data.insert_many(
            [
                weaviate.classes.data.DataObject(
                    properties=o.properties(), uuid=o.uuid(), vector={vector_name(o.slot): list(o.vector)}
                )
                for o in objects
            ]
        )
        if result.has_errors:
            first = next(iter(result.errors.values()))
            raise WeaviateWriteFailed(
                f"Weaviate refused {len(result.errors)} of {len(objects)} objects: {first.message}"
            )

    async def delete(self, tenant_id: str, where: _Filters) -> int:
        try:
            return await self._delete(tenant_id, where)
        except WeaviateBaseError as exc:
            raise IndexUnavailable(f"Weaviate delete failed: {exc}") from exc

    async def _delete(self, tenant_id: str, where: _Filters) -> int:
        deleted = 0
        for dimension in await self.dimensions():
            shard = await self._tenant(dimension, tenant_id, create=False)
            if shard is None:
                continue
            for _round in range(_MAX_DELETE_ROUNDS):  # one call deletes up to the server's query maximum
                result = await shard.data.delete_many(where=where)
                if result.failed:
                    raise WeaviateWriteFailed(f"Weaviate failed to delete {result.failed} of {result.matches} objects")
                deleted += result.successful
                if result.matches == 0 or result.successful == 0:
                    break
        return deleted

    async def remove_tenant(self, tenant_id: str) -> None:
        name = tenant_name(tenant_id)
        try:
            for dimension in await self.dimensions():
                collection = await self._collection(dimension, create=False)
                if collection is not None and await collection.tenants.exists(name):
                    await collection.tenants.remove([name])
                self._tenants.discard((collection_name(self._prefix, dimension), name))
        except WeaviateBaseError as exc:
            raise IndexUnavailable(f"Weaviate tenant removal failed: {exc}") from exc

    async def query(self, tenant_id: str, query: SearchQuery) -> list[tuple[str, int, float]]:
        """(document, ord, score) best first, scored as the pgvector store scores (`QueryPlan.score`)."""
        plan = query_plan(query)
        try:
            shard = await self._tenant(query.dimension, tenant_id, create=False)
            if shard is None:
                return []
            found = await getattr(shard.query, plan.method)(**plan.arguments)
        except WeaviateBaseError as exc:
            raise IndexUnavailable(f"Weaviate query failed: {exc}") from exc
        hits = []
        for i, o in enumerate(found.objects, start=1):
            score = plan.score(i, o.metadata.score if o.metadata else None)
            hits.append((str(o.properties["document_id"]), int(o.properties["ord"]), score))
        return hits
