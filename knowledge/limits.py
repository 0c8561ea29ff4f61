"""What a tenant's plan allows in its knowledge collections: the size of one document and how many a
collection holds. Unknown plans get the smallest limits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

MIB = 1024 * 1024


@dataclass(frozen=True)
class KnowledgeLimits:
    max_document_bytes: int
    max_documents: int


PLAN_LIMITS: dict[str, KnowledgeLimits] = {
    "free": KnowledgeLimits(max_document_bytes=5 * MIB, max_documents=50),
    "pro": KnowledgeLimits(max_document_bytes=20 * MIB, max_documents=2_000),
    "enterprise": KnowledgeLimits(max_document_bytes=50 * MIB, max_documents=20_000),
}

# The largest upload any plan takes, plus room for the multipart envelope around the file.
UPLOAD_ENVELOPE_BYTES = max(limit.max_document_bytes for limit in PLAN_LIMITS.values()) + 64 * 1024


async def limits_for_tenant(session: AsyncSession, tenant_id: str) -> KnowledgeLimits:
    plan = (await run_sql(session, "SELECT plan FROM tenants WHERE id = :t", {"t": tenant_id})).scalar()
    return PLAN_LIMITS.get(str(plan), PLAN_LIMITS["free"])
