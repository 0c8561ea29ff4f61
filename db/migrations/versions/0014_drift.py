"""Drift reports: one per tenant and night, and the advice of a report that an admin applied.

`drift_reports` is written by `NightlyDriftWorkflow`'s activity: one row per tenant and night, whose id
derives from the two (`policies.drift.store.report_id`), so analysing a night again rewrites the same row and
the id the API handed out stays valid and read by
`GET /v1/drift/reports`. `drift_advice_applied` records each applied advice once: its primary key is what
makes `POST .../advice/{n}/apply` apply a piece of advice at most once.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLES = ("drift_reports", "drift_advice_applied")


def _jsonb(name: str, empty: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(), nullable=False, server_default=sa.text(f"'{empty}'::jsonb"))


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "drift_reports",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("night", sa.Date(), nullable=False),
        sa.Column("detected", sa.Boolean(), nullable=False),
        sa.Column("baseline_days", sa.Integer(), nullable=False),
        sa.Column("baseline_turns", sa.Integer(), nullable=False),
        sa.Column("current_turns", sa.Integer(), nullable=False),
        _jsonb("findings", "[]"),
        _jsonb("costs", "[]"),
        _jsonb("advice", "[]"),
        sa.Column("tests", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("workflow_id", sa.String(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_drift_reports"),
        _tenant_fk("drift_reports"),
        sa.CheckConstraint("baseline_turns >= 0 AND current_turns >= 0 AND tests >= 0", name="ck_drift_reports_counts"),
    )
    # Listing: newest night first within a tenant.
    op.create_index("ix_drift_reports_tenant_night", "drift_reports", ["tenant_id", "night", "id"])
    op.create_table(
        "drift_advice_applied",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("report_id", sa.String(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("applied_by", sa.String(), nullable=False),
        _jsonb("details", "{}"),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("tenant_id", "report_id", "n", name="pk_drift_advice_applied"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "report_id"],
            ["drift_reports.tenant_id", "drift_reports.id"],
            name="fk_drift_advice_applied_report",
            ondelete="CASCADE",
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
    op.drop_table("drift_advice_applied")
    op.drop_index("ix_drift_reports_tenant_night", table_name="drift_reports")
    op.drop_table("drift_reports")
