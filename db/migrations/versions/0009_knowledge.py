"""Knowledge: collections, documents, their originals and their chunks (text, full-text vector, embedding).

Every table is a tenant table under forced row-level security. Foreign keys are composite with `tenant_id`
(foreign-key checks ignore row-level security) and cascade, so deleting a collection or a document purges
its originals and chunks in the same transaction.

Chunks carry what retrieval filters on (collection, visibility groups, metadata) in the row itself, so
every filter is part of the one query, inside the index scan, never applied to its results. The embedding
column is untyped because collections differ in dimension; HNSW indexes are partial, one per dimension in
use, over `embedding::vector(N)`, and queries use that same expression (pgvector's documented pattern).
pgvector 0.8's iterative index scans keep an index scan going until the tenant's filters are satisfied.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLES = (
    "knowledge_collections",
    "knowledge_documents",
    "knowledge_sources",
    "knowledge_chunks",
    "knowledge_customer_groups",
)
_STATUSES = "('pending', 'processing', 'ready', 'failed')"
# Dimensions with an HNSW index: the built-in offline model (384) and common hosted models.
INDEXED_DIMENSIONS = (384, 768, 1024, 1536)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE")


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def _groups() -> sa.Column:
    return sa.Column("groups", postgresql.ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'"))


def _metadata() -> sa.Column:
    return sa.Column("metadata", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb"))


def _create_collections() -> None:
    op.create_table(
        "knowledge_collections",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False, server_default=""),
        sa.Column("embedding_model", sa.String(), nullable=False),
        sa.Column("embedding_dim", sa.Integer(), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_knowledge_collections"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_knowledge_collections_name"),
        _tenant_fk("knowledge_collections"),
        sa.CheckConstraint("embedding_dim BETWEEN 1 AND 4096", name="ck_knowledge_collections_dim"),
    )


def _create_documents() -> None:
    op.create_table(
        "knowledge_documents",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("collection_id", sa.String(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("media_type", sa.String(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        _groups(),
        _metadata(),
        sa.Column("status", sa.String(), nullable=False, server_default="pending"),
        sa.Column("reason", sa.String(), nullable=False, server_default=""),
        sa.Column("pages", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("chunks", sa.Integer(), nullable=False, server_default="0"),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_knowledge_documents"),
        # The same file twice in a collection is one document.
        sa.UniqueConstraint("tenant_id", "collection_id", "content_sha256", name="uq_knowledge_documents_content"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "collection_id"],
            ["knowledge_collections.tenant_id", "knowledge_collections.id"],
            name="fk_knowledge_documents_collection",
            ondelete="CASCADE",
        ),
        _tenant_fk("knowledge_documents"),
        sa.CheckConstraint(f"status IN {_STATUSES}", name="ck_knowledge_documents_status"),
    )
    op.create_index("ix_knowledge_documents_collection", "knowledge_documents", ["tenant_id", "collection_id"])


def _document_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "document_id"],
        ["knowledge_documents.tenant_id", "knowledge_documents.id"],
        name=f"fk_{table}_document",
        ondelete="CASCADE",
    )


def _create_sources_and_chunks() -> None:
    op.create_table(
        "knowledge_sources",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("document_id", sa.String(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "document_id", name="pk_knowledge_sources"),
        _document_fk("knowledge_sources"),
        _tenant_fk("knowledge_sources"),
    )
    op.create_table(
        "knowledge_chunks",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("document_id", sa.String(), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("heading", sa.String(), nullable=False, server_default=""),
        sa.Column("page", sa.Integer(), nullable=True),
        _groups(),
        _metadata(),
        sa.Column("embedding_dim", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "document_id", "ord", name="pk_knowledge_chunks"),
        _document_fk("knowledge_chunks"),
        _tenant_fk("knowledge_chunks"),
    )
    op.execute("ALTER TABLE knowledge_chunks ADD COLUMN embedding vector")
    op.execute(
        "ALTER TABLE knowledge_chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
        "(to_tsvector('english', heading || ' ' || text)) STORED"
    )
    op.create_index("ix_knowledge_chunks_collection", "knowledge_chunks", ["tenant_id", "collection_id"])
    op.execute("CREATE INDEX ix_knowledge_chunks_tsv ON knowledge_chunks USING gin (tsv)")
    for dim in INDEXED_DIMENSIONS:
        op.execute(
            f"CREATE INDEX ix_knowledge_chunks_hnsw_{dim} ON knowledge_chunks "
            f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) WHERE embedding_dim = {dim}"
        )


def _create_customer_groups() -> None:
    # The visibility groups a customer searches as; set by the tenant, never by anything a document says.
    op.create_table(
        "knowledge_customer_groups",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        _groups(),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", name="pk_knowledge_customer_groups"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name="fk_knowledge_customer_groups_customer",
            ondelete="CASCADE",
        ),
        _tenant_fk("knowledge_customer_groups"),
    )


def upgrade() -> None:
    _create_collections()
    _create_customer_groups()
    _create_documents()
    _create_sources_and_chunks()
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
        )


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
