"""Draft agent versions: saved and numbered like any version, but not the one conversations use.

`agent_definitions.draft` marks a version saved as a draft: it can be read, compared, evaluated
(`--agent-version NAME@N`) and trialled as an agent-version canary, while conversations keep the newest
version that is not a draft. Activating a draft saves its definition again as the next, active, version, so
rows still never change once stored. Existing versions are not drafts.

Revision ID: 0039
Revises: 0038
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "agent_definitions", sa.Column("draft", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )


def downgrade() -> None:
    op.drop_column("agent_definitions", "draft")
