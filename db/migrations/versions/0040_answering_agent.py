"""The agent that answered: `messages.agent` on an answer, so turns after a handoff count with that agent.

A handoff switches a conversation's agent for the rest of it, while `conversations.agent` keeps the agent it
started with. An agent-version canary compares the turns of one agent; it now takes each turn's agent from its
answer, and only a turn without an answer (or an answer from before this column) from the conversation.

Revision ID: 0040
Revises: 0039
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("agent", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "agent")
