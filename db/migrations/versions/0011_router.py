"""Router settings per tenant: a pinned model, forbidden models, a quality target, a canary.

One row per tenant at most (none: the plan's defaults). Whether a pinned model may see the tenant's data is
checked against the tenant's region when the row is written and again at every routing decision, since the
catalog may change in between.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLE = "tenant_router_settings"
# A tenant's own fitted routers (`aiaas router train --tenant`), newest used; none: the shipped global one.
_ROUTERS = "tenant_routers"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("tenant_id", sa.String(), primary_key=True),
        sa.Column("pinned_model", sa.String(), nullable=True),
        sa.Column("forbidden_models", postgresql.ARRAY(sa.String()), nullable=False, server_default="{}"),
        sa.Column("quality_target", sa.Float(), nullable=True),
        # A canary: this model answers this share of the tenant's conversations (sticky per conversation).
        sa.Column("canary_model", sa.String(), nullable=True),
        sa.Column("canary_share", sa.Float(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{_TABLE}_tenant", ondelete="CASCADE"),
        sa.CheckConstraint(
            "quality_target IS NULL OR (quality_target > 0 AND quality_target <= 1)", name=f"ck_{_TABLE}_quality"
        ),
        sa.CheckConstraint("canary_share >= 0 AND canary_share <= 1", name=f"ck_{_TABLE}_canary_share"),
    )
    op.create_table(
        _ROUTERS,
        sa.Column("tenant_id", sa.String(), primary_key=True),
        sa.Column("version", sa.String(), primary_key=True),
        sa.Column("artefact", postgresql.JSONB(), nullable=False),
        sa.Column("ece", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{_ROUTERS}_tenant", ondelete="CASCADE"),
    )
    for table in (_TABLE, _ROUTERS):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
        )


def downgrade() -> None:
    op.drop_table(_ROUTERS)
    op.drop_table(_TABLE)
