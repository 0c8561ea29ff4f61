"""Transcripts and tool calls sealed at rest under the tenant's data key (`core.crypto.fields`).

- `messages.content_sealed`: the message text sealed; `content` is emptied once a row is sealed.
- `tool_calls.arguments_sealed` and `tool_calls.output_sealed` (the output with the failure message): the
  call's arguments and results sealed; `arguments`, `output` and `message` are emptied once sealed.
- `key_version` on both tables: the oldest data key version a row's fields are sealed under, NULL while any of
  them is still in clear (rows written before this revision). Key rotation re-encrypts by it
  (`workflows.key_rotation`), which also seals the rows still in clear.
- `customers.email_hash`: a keyed hash of the lowercased email (`core.crypto.fields.blind_index`), what lookups
  by email compare; filled for older rows by key rotation.
- `tenant_data_keys.fields_retired_at`: set once no field is sealed under that version any more; sealed fields
  refuse to open under a retired version (a stale copy restored from elsewhere stays closed).

Revision ID: 0021
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("content_sealed", sa.LargeBinary(), nullable=True))
    op.add_column("messages", sa.Column("key_version", sa.Integer(), nullable=True))
    op.add_column("tool_calls", sa.Column("arguments_sealed", sa.LargeBinary(), nullable=True))
    op.add_column("tool_calls", sa.Column("output_sealed", sa.LargeBinary(), nullable=True))
    op.add_column("tool_calls", sa.Column("key_version", sa.Integer(), nullable=True))
    op.add_column("customers", sa.Column("email_hash", sa.LargeBinary(), nullable=True))
    op.create_index("ix_customers_tenant_email_hash", "customers", ["tenant_id", "email_hash"])
    op.add_column("tenant_data_keys", sa.Column("fields_retired_at", sa.DateTime(timezone=True), nullable=True))
    # What a rotation scans: a tenant's rows in clear or under an older version.
    op.create_index("ix_messages_tenant_key_version", "messages", ["tenant_id", "key_version"])
    op.create_index("ix_tool_calls_tenant_key_version", "tool_calls", ["tenant_id", "key_version"])


def downgrade() -> None:
    op.drop_index("ix_tool_calls_tenant_key_version", table_name="tool_calls")
    op.drop_index("ix_messages_tenant_key_version", table_name="messages")
    op.drop_column("tenant_data_keys", "fields_retired_at")
    op.drop_index("ix_customers_tenant_email_hash", table_name="customers")
    op.drop_column("customers", "email_hash")
    op.drop_column("tool_calls", "key_version")
    op.drop_column("tool_calls", "output_sealed")
    op.drop_column("tool_calls", "arguments_sealed")
    op.drop_column("messages", "key_version")
    op.drop_column("messages", "content_sealed")
