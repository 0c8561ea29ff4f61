"""Collections and documents: rows in the tenant's own tables (row-level security applies to every query).

A document is identified within its collection by the sha256 of its bytes, so uploading the same file twice
returns the first document instead of a second copy. Its original is kept in `knowledge_sources` and read
by the ingestion by id; the workflow's history holds only ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from db.ids import new_id

_COLLECTION = "id, name, description, embedding_model, embedding_dim, embedding_slot, created_at"
_DOCUMENT = (
    "id, collection_id, filename, media_type, size_bytes, content_sha256, groups, metadata, status, reason,"
    " pages, chunks, created_at, updated_at"
)


@dataclass(frozen=True)
class Collection:
    id: str
    name: str
    description: str
    embedding_model: str
    embedding_dim: int
    # Which of a chunk's two vector slots this collection's searches read (a re-embed fills the other).
    embedding_slot: int
    created_at: datetime


@dataclass(frozen=True)
class Document:
    id: str
    collection_id: str
    filename: str
    media_type: str
    size_bytes: int
    content_sha256: str
    groups: list[str]
    metadata: dict[str, Any]
    status: str
    reason: str
    pages: int
    chunks: int
    created_at: datetime
    updated_at: datetime


def _document(row: Any) -> Document:
    return Document(**{k: row._mapping[k] for k in Document.__dataclass_fields__})


async def create_collection(
    session: AsyncSession, tenant_id: str, *, name: str, description: str, model: str, dim: int
) -> Collection | None:
    """The new collection, or None when the tenant already has one of that name."""
    row = (
        await run_sql(
            session,
            f"INSERT INTO knowledge_collections (tenant_id, id, name, description, embedding_model, embedding_dim)"  # noqa: S608
            f" VALUES (:t, :id, :name, :description, :model, :dim) ON CONFLICT (tenant_id, name) DO NOTHING"
            f" RETURNING {_COLLECTION}",
            {"t": tenant_id, "id": new_id(), "name": name, "description": description, "model": model, "dim": dim},
        )
    ).first()
    return Collection(**row._mapping) if row else None


async def get_collection(session: AsyncSession, collection_id: str) -> Collection | None:
    row = (
        await run_sql(session, f"SELECT {_COLLECTION} FROM knowledge_collections WHERE id = :id", {"id": collection_id})  # noqa: S608
    ).first()
    return Collection(**row._mapping) if row else None


async def list_collections(session: AsyncSession, *, after: str | None, limit: int) -> list[Collection]:
    rows = await run_sql(
        session,
        f"SELECT {_COLLECTION} FROM knowledge_collections WHERE (CAST(:after AS text) IS NULL OR id > :after)"  # noqa: S608
        " ORDER BY id LIMIT :limit",
        {"after": after, "limit": limit},
    )
    return [Collection(**r._mapping) for r in rows]


async def delete_collection(session: AsyncSession, collection_id: str) -> bool:
    """Deletes the collection with its documents, originals and chunks (cascading keys, one transaction)."""
    result = await run_sql(session, "DELETE FROM knowledge_collections WHERE id = :id", {"id": collection_id})
    return bool(result.rowcount)  # type: ignore[attr-defined]


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def add_document(
    session: AsyncSession, tenant_id: str, collection_id: str, *, filename: str, media_type: str,
    content: bytes, groups: Sequence[str], metadata: dict[str, Any],
) -> tuple[Document, bool]:  # fmt: skip
    """(document, created): the existing document when the collection already holds these exact bytes."""
    digest = content_hash(content)
    row = (
        await run_sql(
            session,
            f"INSERT INTO knowledge_documents (tenant_id, id, collection_id, filename, media_type, size_bytes,"  # noqa: S608
            f" content_sha256, groups, metadata) VALUES (:t, :id, :c, :filename, :media_type, :size, :sha,"
            f" CAST(:groups AS text[]), CAST(:metadata AS jsonb))"
            f" ON CONFLICT (tenant_id, collection_id, content_sha256) DO NOTHING RETURNING {_DOCUMENT}",
            {
                "t": tenant_id,
                "id": new_id(),
                "c": collection_id,
                "filename": filename,
                "media_type": media_type,
                "size": len(content),
                "sha": digest,
                "groups": list(groups),
                "metadata": json.dumps(metadata),
            },
        )
    ).first()
    if row is None:
        existing = (
            await run_sql(
                session,
                f"SELECT {_DOCUMENT} FROM knowledge_documents WHERE collection_id = :c AND content_sha256 = :sha",  # noqa: S608
                {"c": collection_id, "sha": digest},
            )
        ).one()
        return _document(existing), False
    await run_sql(
        session,
        "INSERT INTO knowledge_sources (tenant_id, document_id, content) VALUES (:t, :d, :content)",
        {"t": tenant_id, "d": row.id, "content": content},
    )
    return _document(row), True


async def get_document(session: AsyncSession, collection_id: str, document_id: str) -> Document | None:
    row = (
        await run_sql(
            session,
            f"SELECT {_DOCUMENT} FROM knowledge_documents WHERE id = :d AND collection_id = :c",  # noqa: S608
            {"d": document_id, "c": collection_id},
        )
    ).first()
    return _document(row) if row else None


async def list_documents(
    session: AsyncSession, collection_id: str, *, status: str | None, after: str | None, limit: int
) -> list[Document]:
    rows = await run_sql(
        session,
        f"SELECT {_DOCUMENT} FROM knowledge_documents WHERE collection_id = :c"  # noqa: S608
        " AND (CAST(:status AS text) IS NULL OR status = :status) AND (CAST(:after AS text) IS NULL OR id > :after)"
        " ORDER BY id LIMIT :limit",
        {"c": collection_id, "status": status, "after": after, "limit": limit},
    )
    return [_document(r) for r in rows]


async def delete_document(session: AsyncSession, collection_id: str, document_id: str) -> bool:
    result = await run_sql(
        session,
        "DELETE FROM knowledge_documents WHERE id = :d AND collection_id = :c",
        {"d": document_id, "c": collection_id},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def read_source(session: AsyncSession, document_id: str) -> bytes | None:
    row = (
        await run_sql(session, "SELECT content FROM knowledge_sources WHERE document_id = :d", {"d": document_id})
    ).first()
    return bytes(row.content) if row else None


async def set_status(
    session: AsyncSession, document_id: str, status: str, *, reason: str = "", pages: int | None = None,
    chunks: int | None = None,
) -> bool:  # fmt: skip
    result = await run_sql(
        session,
        "UPDATE knowledge_documents SET status = :status, reason = :reason, updated_at = now(),"
        " pages = coalesce(CAST(:pages AS int), pages), chunks = coalesce(CAST(:chunks AS int), chunks)"
        " WHERE id = :d",
        {"d": document_id, "status": status, "reason": reason[:500], "pages": pages, "chunks": chunks},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def count_documents(session: AsyncSession, collection_id: str) -> int:
    result = await run_sql(
        session, "SELECT count(*) FROM knowledge_documents WHERE collection_id = :c", {"c": collection_id}
    )
    return int(result.scalar_one())


async def searchable_collections(session: AsyncSession, collection_ids: Sequence[str] | None) -> list[Collection]:
    """The tenant's collections among `collection_ids` (all of them for None)."""
    rows = await run_sql(
        session,
        f"SELECT {_COLLECTION} FROM knowledge_collections"  # noqa: S608
        " WHERE CAST(:ids AS text[]) IS NULL OR id = ANY(CAST(:ids AS text[])) ORDER BY id",
        {"ids": list(collection_ids) if collection_ids is not None else None},
    )
    return [Collection(**r._mapping) for r in rows]


async def set_customer_groups(session: AsyncSession, tenant_id: str, customer_id: str, groups: Sequence[str]) -> bool:
    """The groups `customer_id` searches as; False when the tenant has no such customer."""
    result = await run_sql(
        session,
        "INSERT INTO knowledge_customer_groups (tenant_id, customer_id, groups)"
        " SELECT :t, id, CAST(:groups AS text[]) FROM customers WHERE id = :c"
        " ON CONFLICT (tenant_id, customer_id) DO UPDATE SET groups = EXCLUDED.groups, updated_at = now()",
        {"t": tenant_id, "c": customer_id, "groups": list(groups)},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def customer_groups(session: AsyncSession, customer_id: str) -> list[str] | None:
    """The customer's groups ([] when none were set), or None when the tenant has no such customer."""
    row = (
        await run_sql(
            session,
            "SELECT coalesce(g.groups, '{}') AS groups FROM customers c"
            " LEFT JOIN knowledge_customer_groups g ON g.customer_id = c.id WHERE c.id = :c",
            {"c": customer_id},
        )
    ).first()
    return list(row.groups) if row else None
