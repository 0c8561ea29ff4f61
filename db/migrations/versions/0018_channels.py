"""Channels: a tenant's SMS, Slack, WhatsApp, email and web widget channels, who writes from them, what
arrived and what was sent back.

`channels` holds a channel's configuration: its kind, the agent that answers, the provider's API base URL for
replies, settings that are not secret, and its provider credentials sealed under the tenant's data key
(`secret_ciphertext` verifies inbound signatures, `token_ciphertext` authenticates replies). A widget's public
key is unique across tenants. `channel_identities` maps a sender on a channel (a phone number, a Slack user,
a WhatsApp id, an email address) to the tenant's customer and the conversation it writes in.
`channel_inbound` is the deduplication record: its primary key is the provider's message id, so a retried
or replayed delivery finds its row and starts nothing. `channel_replies` holds one row per answered message,
so a retried reply activity sends nothing twice.

Revision ID: 0018
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLES = ("channels", "channel_identities", "channel_inbound", "channel_replies")


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE")


def _channel_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "channel_id"],
        ["channels.tenant_id", "channels.id"],
        name=f"fk_{table}_channel",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("provider_url", sa.String(), nullable=False, server_default=""),
        sa.Column("settings", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("token_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("public_key", sa.String(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_channels"),
        sa.UniqueConstraint("public_key", name="uq_channels_public_key"),
        _tenant_fk("channels"),
        sa.CheckConstraint("kind IN ('sms', 'slack', 'whatsapp', 'email', 'widget')", name="ck_channels_kind"),
    )
    op.create_index("ix_channels_tenant_created", "channels", ["tenant_id", "created_at", "id"])
    op.create_table(
        "channel_identities",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        # Where replies go when it is not the sender itself (a Slack channel; an email subject).
        sa.Column("reply_to", sa.String(), nullable=False, server_default=""),
        _now("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "channel_id", "external_id", name="pk_channel_identities"),
        sa.UniqueConstraint("tenant_id", "conversation_id", name="uq_channel_identities_conversation"),
        _channel_fk("channel_identities"),
    )
    op.create_table(
        "channel_inbound",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("provider_message_id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=True),
        # 'claimed' while one delivery submits it, 'submitted' once the conversation's run took it in.
        sa.Column("state", sa.String(), nullable=False, server_default="claimed"),
        _now("claimed_at"),
        _now("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "channel_id", "provider_message_id", name="pk_channel_inbound"),
        _channel_fk("channel_inbound"),
        sa.CheckConstraint("state IN ('claimed', 'submitted')", name="ck_channel_inbound_state"),
    )
    op.create_table(
        "channel_replies",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("reply_key", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        _now("sent_at"),
        sa.PrimaryKeyConstraint("tenant_id", "reply_key", name="pk_channel_replies"),
        _tenant_fk("channel_replies"),
    )
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
        )


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
