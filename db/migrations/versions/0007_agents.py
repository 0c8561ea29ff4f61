"""Agents and approvals: tenant agent definitions (versioned), approval requests, a conversation's customer.

`agent_definitions` keeps every version a tenant saved; the newest answers unless a version is asked for.
The shipped agents are not stored: they answer for a name the tenant never saved (version 0 in the API).
`approvals` records each human decision a tool call waited for. `conversations.customer_id` binds a
conversation to one customer of its own tenant: the foreign key is composite because foreign-key checks
ignore row-level security, so a single-column key would let a conversation name another tenant's customer.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLES = ("agent_definitions", "approvals")
_APPROVAL_STATUSES = "('pending', 'approved', 'denied', 'expired')"


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE")


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def upgrade() -> None:
    op.create_table(
        "agent_definitions",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        _now("created_at"),
        sa.Column("created_by", sa.String(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("tenant_id", "name", "version", name="pk_agent_definitions"),
        _tenant_fk("agent_definitions"),
        sa.CheckConstraint("version >= 1", name="ck_agent_definitions_version"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("tool", sa.String(), nullable=False),
        sa.Column("arguments", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("status", sa.String(), nullable=False),
        _now("requested_at"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=False, server_default=""),
        sa.Column("note", sa.String(), nullable=False, server_default=""),
        _tenant_fk("approvals"),
        sa.CheckConstraint(f"status IN {_APPROVAL_STATUSES}", name="ck_approvals_status"),
    )
    op.create_index("ix_approvals_tenant_conversation", "approvals", ["tenant_id", "conversation_id"])
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
        )
    op.add_column("conversations", sa.Column("customer_id", sa.String(), nullable=True))
    op.create_foreign_key(
        "fk_conversations_customer",
        "conversations",
        "customers",
        ["tenant_id", "customer_id"],
        ["tenant_id", "id"],
    )


def downgrade() -> None:
    op.drop_constraint("fk_conversations_customer", "conversations", type_="foreignkey")
    op.drop_column("conversations", "customer_id")
    op.drop_index("ix_approvals_tenant_conversation", table_name="approvals")
    op.drop_table("approvals")
    op.drop_table("agent_definitions")
