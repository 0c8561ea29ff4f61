"""Early exit per tenant: `tenant_router_settings.early_exit`, off by default.

The answers themselves live in Redis with a TTL (`router.early_exit`), so no table holds them.

Revision ID: 0029
Revises: 0027
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tenant_router_settings",
        sa.Column("early_exit", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )


def downgrade() -> None:
    op.drop_column("tenant_router_settings", "early_exit")
