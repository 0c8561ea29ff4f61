"""Webhook endpoints and deliveries, and invoices with gapless numbers per tenant.

`webhook_endpoints` holds a tenant's receivers: URL, event-type filter, the signing secret and, during a
rotation, the previous secret until it expires. `webhook_messages` holds each event once (its id is the
`webhook-id` header, so a receiver deduplicates on it), `webhook_deliveries` one row per message and endpoint
(a redelivery adds a row for the same message), and `webhook_attempts` the log of every HTTP attempt.

`invoices` are numbered per tenant without gaps: `invoice_counters` keeps the last number, taken under the
row lock in the transaction that inserts the invoice, so a rolled back invoice gives its number back. One
invoice per tenant and period (`uq_invoices_period`) makes a retried period close find the invoice it made.
`billing_payments` records every charge attempt by its idempotency key, so no charge is made twice.

Revision ID: 0013
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_TABLES = (
    "webhook_endpoints",
    "webhook_messages",
    "webhook_deliveries",
    "webhook_attempts",
    "invoice_counters",
    "invoices",
    "billing_payments",
)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE")


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def _webhooks() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False, server_default=""),
        sa.Column("event_types", postgresql.ARRAY(sa.String()), nullable=False),
        # Sealed (AES-256-GCM under the tenant's data key, bound to tenant and endpoint), never in clear.
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("disabled_reason", sa.String(), nullable=True),
        _created(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook_endpoints"),
        _tenant_fk("webhook_endpoints"),
    )
    op.create_table(
        "webhook_messages",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook_messages"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_webhook_messages_key"),
        _tenant_fk("webhook_messages"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("endpoint_id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        _created(),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"], ["webhook_endpoints.tenant_id", "webhook_endpoints.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tenant_id", "message_id"], ["webhook_messages.tenant_id", "webhook_messages.id"]),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'abandoned')", name="ck_webhook_deliveries_status"
        ),
        _tenant_fk("webhook_deliveries"),
    )
    op.create_index("ix_webhook_deliveries_created", "webhook_deliveries", ["tenant_id", "created_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("delivery_id", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False, server_default="0"),
        _created(),
        sa.PrimaryKeyConstraint("tenant_id", "delivery_id", "attempt", name="pk_webhook_attempts"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "delivery_id"], ["webhook_deliveries.tenant_id", "webhook_deliveries.id"], ondelete="CASCADE"
        ),
        _tenant_fk("webhook_attempts"),
    )


def _billing() -> None:
    op.create_table(
        "invoice_counters",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_invoice_counters"),
        _tenant_fk("invoice_counters"),
    )
    op.create_table(
        "invoices",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        # Shown as printed ("000042"); the counter, not this column, is what keeps numbers gapless.
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan", sa.String(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False, server_default="usd"),
        sa.Column("lines", postgresql.JSONB(), nullable=False),
        sa.Column("subtotal_cents", sa.BigInteger(), nullable=False),
        sa.Column("tax_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, server_default="open"),
        _created(),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_invoices"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_invoices_number"),
        sa.UniqueConstraint("tenant_id", "period_start", name="uq_invoices_period"),
        sa.CheckConstraint("status IN ('open', 'paid', 'uncollectible', 'void')", name="ck_invoices_status"),
        _tenant_fk("invoices"),
    )
    op.create_table(
        "billing_payments",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("invoice_id", sa.String(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        _created(),
        sa.PrimaryKeyConstraint("tenant_id", "idempotency_key", name="pk_billing_payments"),
        sa.ForeignKeyConstraint(["tenant_id", "invoice_id"], ["invoices.tenant_id", "invoices.id"]),
        _tenant_fk("billing_payments"),
    )


def _protect() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
        )


def upgrade() -> None:
    _webhooks()
    _billing()
    _protect()


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
