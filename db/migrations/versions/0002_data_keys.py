"""Per-tenant data encryption keys (wrapped by the KMS).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def upgrade() -> None:
    # No foreign key to `tenants`: the platform's own key sits here under the reserved scope `_platform`,
    # which is no tenant. Offboarding a tenant deletes its rows, which makes its history unreadable
    # (crypto-shredding) even where copies of it survive.
    op.create_table(
        "tenant_data_keys",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kek_id", sa.String(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "version", name="pk_tenant_data_keys"),
        sa.CheckConstraint("version > 0", name="ck_tenant_data_keys_version"),
        sa.CheckConstraint(f"tenant_id = '_platform' OR tenant_id ~ '{_UUID}'", name="ck_tenant_data_keys_scope"),
    )
    # One key encrypts at a time; older versions stay to decrypt what they encrypted.
    op.create_index(
        "uq_tenant_data_keys_active",
        "tenant_data_keys",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("retired_at IS NULL"),
    )
    op.execute("ALTER TABLE tenant_data_keys ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenant_data_keys FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON tenant_data_keys "
        f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
    )


def downgrade() -> None:
    op.drop_table("tenant_data_keys")
