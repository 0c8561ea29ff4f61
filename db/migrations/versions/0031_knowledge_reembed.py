"""Knowledge: a second embedding slot per chunk and the re-embeds of collections.

pgvector columns and HNSW indexes are per dimension, so a collection moving to another model (say 384 to 1536
dimensions) cannot rewrite its vectors in place while it keeps serving. Each chunk has two vector slots:
`embedding` (slot 0) and `embedding_alt` (slot 1), each with its own dimension column and partial HNSW indexes
per indexed dimension (the same expressions search uses). A collection's `embedding_slot` says which slot its
searches read; `ReembedCollectionWorkflow` fills the other slot with the new model, then one UPDATE of the
collection row switches model, dimension and slot together, and the old slot is emptied afterwards.

`knowledge_reembeds` records each re-embed (from/to model, progress, outcome); a partial unique index lets at
most one run per collection, so a second request is refused by the database itself.

Revision ID: 0031
Revises: 0030
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
# The dimensions 0009 indexes in slot 0, the same here for slot 1.
INDEXED_DIMENSIONS = (384, 768, 1024, 1536)
_STATUSES = "('running', 'completed', 'failed')"


def upgrade() -> None:
    op.execute("ALTER TABLE knowledge_chunks ADD COLUMN embedding_alt vector")
    op.add_column("knowledge_chunks", sa.Column("embedding_alt_dim", sa.Integer(), nullable=True))
    for dim in INDEXED_DIMENSIONS:
        op.execute(
            f"CREATE INDEX ix_knowledge_chunks_alt_hnsw_{dim} ON knowledge_chunks "
            f"USING hnsw ((embedding_alt::vector({dim})) vector_cosine_ops) WHERE embedding_alt_dim = {dim}"
        )
    op.add_column(
        "knowledge_collections", sa.Column("embedding_slot", sa.SmallInteger(), nullable=False, server_default="0")
    )
    op.create_check_constraint("ck_knowledge_collections_slot", "knowledge_collections", "embedding_slot IN (0, 1)")
    op.create_table(
        "knowledge_reembeds",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("collection_id", sa.String(), nullable=False),
        sa.Column("from_model", sa.String(), nullable=False),
        sa.Column("from_dim", sa.Integer(), nullable=False),
        sa.Column("to_model", sa.String(), nullable=False),
        sa.Column("to_dim", sa.Integer(), nullable=False),
        # The slot the new vectors are written to (the one the collection does not read).
        sa.Column("to_slot", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, server_default="running"),
        sa.Column("embedded", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reason", sa.String(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("switched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_knowledge_reembeds"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "collection_id"],
            ["knowledge_collections.tenant_id", "knowledge_collections.id"],
            name="fk_knowledge_reembeds_collection",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_knowledge_reembeds_tenant", ondelete="CASCADE"),
        sa.CheckConstraint(f"status IN {_STATUSES}", name="ck_knowledge_reembeds_status"),
        sa.CheckConstraint("to_dim BETWEEN 1 AND 4096", name="ck_knowledge_reembeds_dim"),
    )
    op.create_index(
        "uq_knowledge_reembeds_running",
        "knowledge_reembeds",
        ["tenant_id", "collection_id"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ix_knowledge_reembeds_collection", "knowledge_reembeds", ["tenant_id", "collection_id", "created_at"]
    )
    op.execute("ALTER TABLE knowledge_reembeds ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE knowledge_reembeds FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON knowledge_reembeds "
        f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
    )


def downgrade() -> None:
    op.drop_table("knowledge_reembeds")
    op.drop_constraint("ck_knowledge_collections_slot", "knowledge_collections")
    op.drop_column("knowledge_collections", "embedding_slot")
    for dim in INDEXED_DIMENSIONS:
        op.execute(f"DROP INDEX IF EXISTS ix_knowledge_chunks_alt_hnsw_{dim}")
    op.drop_column("knowledge_chunks", "embedding_alt_dim")
    op.drop_column("knowledge_chunks", "embedding_alt")
