"""Leads, CRM contacts, tickets and approvals sealed at rest (`agents.sealed_records`).

- `fields_sealed`: the row's end-customer columns as one JSON object, sealed under the tenant's data key; the
  clear columns are left blank by every writer.
- `key_version`: the data key version of the seal, NULL while the row is still in clear.
- `email_hash` (leads, CRM contacts) and `phone_hash` (leads): keyed hashes, what dedupe and erasure compare.

Existing rows are not encrypted here: sealing needs the tenant's data keys (the KMS, not something a migration
should reach), and one UPDATE of every row of a big table would hold its row locks and bloat it in one
transaction. They keep `key_version` NULL, are read in clear meanwhile, and `KeyRotationWorkflow` (`aiaas keys
rotate`) seals them in committed batches with `FOR UPDATE SKIP LOCKED`, beside live traffic; until then erasure
also matches their clear email and phone.

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_TABLES = ("leads", "sandbox_crm_contacts", "tickets", "approvals")
_HASHES = {"leads": ("email_hash", "phone_hash"), "sandbox_crm_contacts": ("email_hash",)}


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("fields_sealed", sa.LargeBinary(), nullable=True))
        op.add_column(table, sa.Column("key_version", sa.Integer(), nullable=True))
        # Key rotation looks for rows in clear or under an old version.
        op.create_index(f"ix_{table}_tenant_key_version", table, ["tenant_id", "key_version"])
        for column in _HASHES.get(table, ()):
            op.add_column(table, sa.Column(column, sa.LargeBinary(), nullable=True))
            op.create_index(f"ix_{table}_tenant_{column}", table, ["tenant_id", column])


def downgrade() -> None:
    for table in _TABLES:
        for column in _HASHES.get(table, ()):
            op.drop_index(f"ix_{table}_tenant_{column}", table_name=table)
            op.drop_column(table, column)
        op.drop_index(f"ix_{table}_tenant_key_version", table_name=table)
        op.drop_column(table, "key_version")
        op.drop_column(table, "fields_sealed")
