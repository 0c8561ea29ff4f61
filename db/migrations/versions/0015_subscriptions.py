"""Subscriptions and the sandbox payment processor's charges.

`subscriptions` is the projection of each tenant's `SubscriptionWorkflow` state (the workflow is the truth;
this row is what the API lists and what survives a lost run), written by the workflow's record activity.
`billing_sandbox_charges` is the sandbox processor's own book: one row per idempotency key, so a charge
repeated with the same key returns the first outcome and moves no money twice, as a real processor does.
Invoices also keep the credit they used, so a retried period close returns the same figures.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLES = ("subscriptions", "billing_sandbox_charges")


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("plan", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("state", postgresql.JSONB(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_subscriptions"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_subscriptions_tenant", ondelete="CASCADE"),
    )
    op.create_table(
        "billing_sandbox_charges",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("payment_method", sa.String(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("tenant_id", "idempotency_key", name="pk_billing_sandbox_charges"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_billing_sandbox_charges_tenant", ondelete="CASCADE"
        ),
    )
    op.add_column("invoices", sa.Column("credit_used_cents", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("invoices", sa.Column("tokens", sa.BigInteger(), nullable=False, server_default="0"))
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
        )


def downgrade() -> None:
    op.drop_column("invoices", "tokens")
    op.drop_column("invoices", "credit_used_cents")
    for table in reversed(_TABLES):
        op.drop_table(table)
