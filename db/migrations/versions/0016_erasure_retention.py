"""Erasure of one end customer and retention policies.

- `erasures`: one row per customer erased (unique per tenant and customer, so a repeated request finds the
  first), with the workflow's progress, what was erased (counts and conversation ids, never values) and the
  signed report.
- `privacy_signing_keys`: each tenant's Ed25519 key that signs its erasure reports; the private half sealed
  under the tenant's data key, the public half in clear so anyone holding a report can check it.
- `retention_policies`: per tenant, how many days transcripts, events, tool results and documents are kept
  (NULL: kept until deleted).

Revision ID: 0016
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLES = ("erasures", "privacy_signing_keys", "retention_policies")
_RETAINED = ("transcripts_days", "events_days", "tool_results_days", "documents_days")
MAX_RETENTION_DAYS = 3650


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        # No foreign key: the customer's row is anonymised, and the erasure must outlive a later delete.
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, server_default="running"),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("rows", postgresql.JSONB(), nullable=True),
        sa.Column("conversation_ids", postgresql.JSONB(), nullable=True),
        sa.Column("report", postgresql.JSONB(), nullable=True),
        sa.Column("signature", sa.String(), nullable=True),
        sa.Column("key_id", sa.String(), nullable=True),
        _now("created_at"),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_erasures"),
        sa.UniqueConstraint("tenant_id", "customer_id", name="uq_erasures_customer"),
        _tenant_fk("erasures"),
        sa.CheckConstraint("status IN ('running', 'erased', 'completed')", name="ck_erasures_status"),
    )
    op.create_table(
        "privacy_signing_keys",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("private_ciphertext", sa.LargeBinary(), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_privacy_signing_keys"),
        sa.UniqueConstraint("tenant_id", "key_id", name="uq_privacy_signing_keys_key"),
        _tenant_fk("privacy_signing_keys"),
    )
    op.create_table(
        "retention_policies",
        sa.Column("tenant_id", sa.String(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=True) for name in _RETAINED),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_retention_policies"),
        _tenant_fk("retention_policies"),
        sa.CheckConstraint(
            " AND ".join(f"({n} IS NULL OR {n} BETWEEN 1 AND {MAX_RETENTION_DAYS})" for n in _RETAINED),
            name="ck_retention_policies_days",
        ),
    )
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
