"""Drift day facts: a tenant's turn facts of one finished day, kept so the next nights need not read them again.

`drift_day_facts` holds one row per tenant, UTC day, agent and model, with the day's turns of that cell as
parallel arrays (cost, tokens, latency with NULL for a turn without an answer, failed, tool calls and tool
failures), in the order the raw read returns them. `NightlyDriftWorkflow`'s activity writes a day once it is a
finished baseline day and reads the trailing baseline from here instead of from the transcript; a day without
turns is one row with agent and model '' and empty arrays, so it is not read again either
(`policies.drift.days`). The arrays are the raw read's values exactly (float8 round-trips a Python float), so
the analysis is the same whether a day comes from here or from `messages`.

Erasure deletes the days on which the customer asked something (they are read again from what is left); the
tenant's transcript retention deletes days past it; the tenant's rows go with the tenant.

Revision ID: 0038
Revises: 0037
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLE = "drift_day_facts"


def _array(name: str, item: sa.types.TypeEngine) -> sa.Column:
    return sa.Column(name, postgresql.ARRAY(item), nullable=False, server_default=sa.text("'{}'"))


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False, server_default="0"),
        _array("cost_usd", sa.Float(precision=53)),
        _array("tokens", sa.BigInteger()),
        _array("latency_ms", sa.Float(precision=53)),
        _array("failed", sa.Boolean()),
        _array("tool_calls", sa.Integer()),
        _array("tool_failures", sa.Integer()),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("tenant_id", "day", "agent", "model", name="pk_drift_day_facts"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_drift_day_facts_tenant", ondelete="CASCADE"),
        sa.CheckConstraint(
            "turns >= 0 AND cardinality(cost_usd) = turns AND cardinality(tokens) = turns"
            " AND cardinality(latency_ms) = turns AND cardinality(failed) = turns"
            " AND cardinality(tool_calls) = turns AND cardinality(tool_failures) = turns",
            name="ck_drift_day_facts_turns",
        ),
    )
    op.execute(f"ALTER TABLE {_TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {_TABLE} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {_TABLE} USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
    )


def downgrade() -> None:
    op.drop_table(_TABLE)
