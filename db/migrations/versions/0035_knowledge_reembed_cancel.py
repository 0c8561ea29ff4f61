"""Knowledge: a re-embed can be cancelled.

`status` gains `cancelled` (an administrator stopped the run before the switch; its partial vectors are purged
and the collection keeps its old model). `cancel_requested_at` is set by the API under the collection row's lock,
the lock the switch takes, so a cancel and a switch are ordered by the database: a switch that sees the request
does not happen, a cancel that finds the switch done is refused (409).

Revision ID: 0035
Revises: 0034
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("knowledge_reembeds", sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint("ck_knowledge_reembeds_status", "knowledge_reembeds")
    op.create_check_constraint(
        "ck_knowledge_reembeds_status",
        "knowledge_reembeds",
        "status IN ('running', 'completed', 'failed', 'cancelled')",
    )


def downgrade() -> None:
    op.execute("UPDATE knowledge_reembeds SET status = 'failed', reason = 'cancelled' WHERE status = 'cancelled'")
    op.drop_constraint("ck_knowledge_reembeds_status", "knowledge_reembeds")
    op.create_check_constraint(
        "ck_knowledge_reembeds_status", "knowledge_reembeds", "status IN ('running', 'completed', 'failed')"
    )
    op.drop_column("knowledge_reembeds", "cancel_requested_at")
