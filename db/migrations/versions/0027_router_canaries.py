"""Router canaries (`CanaryWorkflow`) and a tenant's own default model per tier.

`router_canaries` holds one row per canary: the model on trial, its share of the tenant's conversations, the
rule's settings, its status (running, awaiting_approval, promoted, rolled_back) and the last comparison the
workflow made. At most one canary per tenant runs at a time (a partial unique index). A promoted canary's
model becomes the tenant's model for its tier: `tenant_router_settings.tier_models` ({"small": "...", ...}),
which a `PUT /v1/router/settings` leaves as it is.

Revision ID: 0027
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0027"
down_revision = "0025"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLE = "router_canaries"
_STATUSES = "('running', 'awaiting_approval', 'promoted', 'rolled_back')"


def upgrade() -> None:
    op.add_column(
        "tenant_router_settings",
        sa.Column("tier_models", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_table(
        _TABLE,
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("control_model", sa.String(), nullable=False, server_default=""),
        sa.Column("require_approval", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("rule", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("status", sa.String(), nullable=False, server_default="running"),
        sa.Column("reason", sa.String(), nullable=False, server_default=""),
        sa.Column("last_check", postgresql.JSONB(), nullable=True),
        sa.Column("checks", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(), nullable=False, server_default=""),
        sa.Column("decided_by", sa.String(), nullable=False, server_default=""),
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_router_canaries"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_router_canaries_tenant", ondelete="CASCADE"),
        sa.CheckConstraint(f"status IN {_STATUSES}", name="ck_router_canaries_status"),
        sa.CheckConstraint("share > 0 AND share < 1", name="ck_router_canaries_share"),
        sa.CheckConstraint("tier IN ('small', 'large')", name="ck_router_canaries_tier"),
    )
    op.create_index("ix_router_canaries_tenant_created", _TABLE, ["tenant_id", "created_at", "id"])
    op.create_index(
        "uq_router_canaries_one_open",
        _TABLE,
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('running', 'awaiting_approval')"),
    )
    op.execute(f"ALTER TABLE {_TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {_TABLE} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {_TABLE} USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
    )


def downgrade() -> None:
    op.drop_index("uq_router_canaries_one_open", table_name=_TABLE)
    op.drop_index("ix_router_canaries_tenant_created", table_name=_TABLE)
    op.drop_table(_TABLE)
    op.drop_column("tenant_router_settings", "tier_models")
