"""Tool answers per tenant: `tenant_router_settings.tool_answers`, off by default.

A tool with an answer template may end an opted-in tenant's turn with its rendered output, without a model
call to word it (`workflows.agent_turn`, the `tool-answer` patch). Its own switch, beside `early_exit`: a
tenant may want terse templated answers without the repeat cache, or the reverse.

Revision ID: 0032
Revises: 0031
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tenant_router_settings",
        sa.Column("tool_answers", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )


def downgrade() -> None:
    op.drop_column("tenant_router_settings", "tool_answers")
