"""The tool runtime: one row per tool call of a turn, and which tools each tenant has enabled.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLES = ("tool_calls", "tenant_tools")
_STATUSES = "('running', 'ok', 'error', 'denied', 'unavailable')"


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    # Offboarding deletes children first anyway (tenancy.tenant_data); the cascade keeps ad-hoc deletes clean.
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "tool_calls",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("call_index", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("tool", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("arguments", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("output", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("error_type", sa.String(), nullable=False, server_default=""),
        sa.Column("message", sa.String(), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "message_id", "call_id", name="pk_tool_calls"),
        _tenant_fk("tool_calls"),
        sa.CheckConstraint(f"status IN {_STATUSES}", name="ck_tool_calls_status"),
    )
    op.create_index("ix_tool_calls_tenant_conversation", "tool_calls", ["tenant_id", "conversation_id"])
    op.create_table(
        "tenant_tools",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("tool", sa.String(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "tool", name="pk_tenant_tools"),
        _tenant_fk("tenant_tools"),
    )
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
        )


def downgrade() -> None:
    op.drop_table("tenant_tools")
    op.drop_index("ix_tool_calls_tenant_conversation", table_name="tool_calls")
    op.drop_table("tool_calls")
