"""Self-serve signup and the mail outbox: two platform tables, outside any tenant.

`signups` records each signup run: the keyed digest of the address (the duplicate check: one created
tenant per address, `uq_signups_created`), the address and company as given, and the outcome with the
tenant it created (`created_tenant_id`, not `tenant_id`: the row belongs to the platform, not to the
tenant, and survives the tenant's purge only as a digest once erased). `mail_outbox` holds every message
the platform sends, queued in the same transaction as the fact it announces and sent by the `mail.send`
activity, at most once per `idempotency_key`; a sent message's body is cleared (it may hold a live link).

Neither table has a `tenant_id`, so `migrate()` grants nothing on them by itself: the app role gets exactly
the privileges below.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_APP_ROLE = "aiaas_app"


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def _if_app_role(statement: str) -> str:
    exists = f"EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{_APP_ROLE}')"  # noqa: S608
    return f"DO $$ BEGIN IF {exists} THEN {statement}; END IF; END $$"


def upgrade() -> None:
    op.create_table(
        "signups",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("email_digest", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("company", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, server_default="pending"),
        sa.Column("created_tenant_id", sa.String(), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_signups"),
        sa.CheckConstraint("status IN ('pending', 'created', 'expired', 'existing')", name="ck_signups_status"),
    )
    op.create_index("ix_signups_digest", "signups", ["email_digest", "created_at"])
    op.create_index(
        "uq_signups_created", "signups", ["email_digest"], unique=True, postgresql_where=sa.text("status = 'created'")
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(), nullable=True),
        _now("created_at"),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mail_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_mail_outbox_key"),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name="ck_mail_outbox_status"),
    )
    op.create_index("ix_mail_outbox_created", "mail_outbox", ["created_at", "id"])
    for table in ("signups", "mail_outbox"):
        op.execute(f"REVOKE ALL ON TABLE {table} FROM PUBLIC")
        op.execute(_if_app_role(f"GRANT SELECT, INSERT, UPDATE ON TABLE {table} TO {_APP_ROLE}"))


def downgrade() -> None:
    op.drop_table("mail_outbox")
    op.drop_table("signups")
