"""Privacy policies: per tenant, what reaches an external model provider and which entities count as personal.

One row per tenant; a tenant without a row gets the platform default (pseudonymise every entity before an
external provider). `provider_entities` NULL means every entity the detector knows.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"


def upgrade() -> None:
    op.create_table(
        "privacy_policies",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("provider_mode", sa.String(), nullable=False, server_default="pseudonymise"),
        sa.Column("provider_entities", postgresql.ARRAY(sa.String()), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_privacy_policies"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_privacy_policies_tenant", ondelete="CASCADE"),
        sa.CheckConstraint(
            "provider_mode IN ('off', 'redact', 'pseudonymise')", name="ck_privacy_policies_provider_mode"
        ),
    )
    op.execute("ALTER TABLE privacy_policies ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE privacy_policies FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON privacy_policies "
        f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
    )


def downgrade() -> None:
    op.drop_table("privacy_policies")
