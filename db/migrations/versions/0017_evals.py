"""Eval runs and their per-task results, per tenant.

`eval_runs` holds a run's suite, options, status and totals, and the tasks themselves (`tasks`, the
validated golden tasks as JSON) so the workflow's history carries only their ids. `eval_results` holds one
row per task: its verdicts and what the conversation did (transcript, tool calls, world, tokens, cost).
Both are tenant tables under row-level security; the conversations of a task run in a tenant of their own.

Revision ID: 0017
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLES = ("eval_runs", "eval_results")


def _jsonb(name: str, empty: str) -> sa.Column:
    return sa.Column(name, postgresql.JSONB(), nullable=False, server_default=sa.text(f"'{empty}'::jsonb"))


def _now(name: str, nullable: bool = False) -> sa.Column:
    default = None if nullable else sa.text("now()")
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


def upgrade() -> None:
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("suite", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False, server_default=""),
        sa.Column("agent_version", sa.String(), nullable=False, server_default=""),
        sa.Column("status", sa.String(), nullable=False, server_default="running"),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("passed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.String(), nullable=False, server_default=""),
        _jsonb("tasks", "[]"),
        sa.Column("workflow_id", sa.String(), nullable=False, server_default=""),
        _now("created_at"),
        _now("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_eval_runs"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_eval_runs_tenant", ondelete="CASCADE"),
        sa.CheckConstraint("status IN ('running', 'completed', 'failed')", name="ck_eval_runs_status"),
        sa.CheckConstraint("passed >= 0 AND passed <= total", name="ck_eval_runs_counts"),
    )
    op.create_index("ix_eval_runs_tenant_created", "eval_runs", ["tenant_id", "created_at", "id"])
    op.create_table(
        "eval_results",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("task_id", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False, server_default=""),
        sa.Column("category", sa.String(), nullable=False, server_default=""),
        sa.Column("passed", sa.Boolean(), nullable=False),
        _jsonb("verdicts", "[]"),
        _jsonb("observation", "{}"),
        sa.Column("latency_ms", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Float(), nullable=False, server_default="0"),
        sa.Column("eval_tenant_id", sa.String(), nullable=False, server_default=""),
        _now("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "run_id", "task_id", name="pk_eval_results"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "run_id"],
            ["eval_runs.tenant_id", "eval_runs.id"],
            name="fk_eval_results_run",
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
    op.drop_table("eval_results")
    op.drop_index("ix_eval_runs_tenant_created", table_name="eval_runs")
    op.drop_table("eval_runs")
