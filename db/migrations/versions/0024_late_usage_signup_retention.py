"""Late usage and signup retention.

`usage_ledger.billed_invoice_id` names the invoice that billed a settled row, written by the period close in
the same transaction as the invoice. A close bills every unbilled settled row dated up to the period's end,
so a row whose settle committed after an earlier close had read the ledger (its `settled_at` is its
transaction's start, before that period's end) lands on the next invoice, and a row is billed at most once.
The partial index keeps the close's look-up to the unbilled rows. Rows of periods already invoiced before this
revision are marked as billed by those invoices, so the first close after it does not bill them again.

The app role also gets DELETE on `signups` and `mail_outbox` (0019 granted SELECT, INSERT, UPDATE): the
daily retention run removes finished signups and sent mail after `AIAAS_SIGNUP_RETENTION_DAYS`.

Revision ID: 0024
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None

_APP_ROLE = "aiaas_app"


def _if_app_role(statement: str) -> str:
    exists = f"EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{_APP_ROLE}')"  # noqa: S608
    return f"DO $$ BEGIN IF {exists} THEN {statement}; END IF; END $$"


def upgrade() -> None:
    op.add_column("usage_ledger", sa.Column("billed_invoice_id", sa.String(), nullable=True))
    op.execute(
        "UPDATE usage_ledger u SET billed_invoice_id = i.id FROM invoices i"
        " WHERE i.tenant_id = u.tenant_id AND u.status = 'settled'"
        " AND u.settled_at >= i.period_start AND u.settled_at < i.period_end"
    )
    op.create_index(
        "ix_usage_ledger_unbilled",
        "usage_ledger",
        ["tenant_id", "settled_at"],
        postgresql_where=sa.text("status = 'settled' AND billed_invoice_id IS NULL"),
    )
    for table in ("signups", "mail_outbox"):
        op.execute(_if_app_role(f"GRANT DELETE ON TABLE {table} TO {_APP_ROLE}"))


def downgrade() -> None:
    for table in ("signups", "mail_outbox"):
        op.execute(_if_app_role(f"REVOKE DELETE ON TABLE {table} FROM {_APP_ROLE}"))
    op.drop_index("ix_usage_ledger_unbilled", table_name="usage_ledger")
    op.drop_column("usage_ledger", "billed_invoice_id")
