"""Which knowledge store a process uses: pgvector by default, Weaviate when `WEAVIATE_URL` is set.

`open_backend(settings)` runs once at process start (the worker, the gateway): with `WEAVIATE_URL` set it connects
and fails the start with `WeaviateUnavailable` when nothing answers (or the `weaviate` extra is not installed),
rather than silently searching another store than the one ingestion writes to. Everything else asks
`store_for(sessions)`. The Weaviate modules are imported only then: the default install does not carry them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.settings import Settings
from knowledge.pgvector_store import PgVectorStore
from knowledge.store import KnowledgeStore, Purge, WeaviateUnavailable

if TYPE_CHECKING:
    from knowledge.weaviate_index import WeaviateIndex

__all__ = [
    "WeaviateUnavailable",
    "close_backend",
    "forget_customer_documents",
    "forget_tenant",
    "open_backend",
    "store_for",
]

_index: WeaviateIndex | None = None
_users = 0  # the gateway and a worker may share a process (tests, `aiaas up`): the last one out closes


async def open_backend(settings: Settings) -> None:
    global _index, _users
    if not settings.weaviate_url:
        return
    _users += 1
    if _index is not None:
        return
    try:
        try:
            from knowledge.weaviate_index import WeaviateIndex
        except ImportError as exc:
            raise WeaviateUnavailable(
                f"WEAVIATE_URL is set but the Weaviate client is not installed ({exc}): pip install 'aiaas[weaviate]'"
            ) from exc
        key = settings.weaviate_api_key.get_secret_value() if settings.weaviate_api_key else None
        _index = await WeaviateIndex.connect(
            settings.weaviate_url, api_key=key, grpc_port=settings.weaviate_grpc_port,
            prefix=settings.weaviate_collection_prefix,
        )  # fmt: skip
    except BaseException:
        _users -= 1
        raise


async def close_backend(settings: Settings) -> None:
    global _index, _users
    if not settings.weaviate_url:
        return
    _users = max(0, _users - 1)
    if _users == 0 and _index is not None:
        index, _index = _index, None
        await index.close()


def store_for(sessions: Any) -> KnowledgeStore:
    """The process's store over `sessions` (`Database.tenant_session`)."""
    if _index is None:
        return PgVectorStore(sessions)
    from knowledge.weaviate_store import WeaviateStore

    return WeaviateStore(sessions, _index)


def forget_customer_documents(db: Any) -> Callable[[AsyncSession, str, str], Awaitable[int]]:
    """Erasure's step for the search index: the documents whose metadata names the customer are deleted from the
    record in the erasure's transaction; this forgets their chunks in the store in that same transaction."""

    async def forget(session: AsyncSession, tenant_id: str, customer_id: str) -> int:
        target = Purge(metadata={"customer_id": customer_id})
        return await store_for(db.tenant_session).purge(tenant_id, target, session=session)

    return forget


async def forget_tenant(tenant_id: str) -> None:
    """Offboarding's step for the search index: the tenant's Weaviate tenants (one per dimension) are removed with
    every object in them. Nothing to do for pgvector, whose rows the offboarding purge deletes."""
    if _index is not None:
        await _index.remove_tenant(tenant_id)
