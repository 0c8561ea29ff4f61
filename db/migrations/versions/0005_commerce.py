"""The commerce domain: customers, products, orders and what follows them, plus sandbox connector state.

Every table belongs to a tenant: `tenant_id` references `tenants` (cascade, so offboarding purges it), row-level
security is enabled and forced, and the one policy binds reads and writes to `app.tenant_id`. Foreign keys
between tenant tables are composite `(tenant_id, id)`, because foreign-key checks ignore row-level security:
an order can only name a customer of its own tenant. The models in `commerce/tables.py` mirror this
file; `tests/tenancy/test_schema.py` fails when they drift apart.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
# Created in this order, dropped in the reverse one.
_TABLES = (
    "customers",
    "products",
    "orders",
    "order_lines",
    "reservations",
    "shipments",
    "leads",
    "tickets",
    "sandbox_payments",
    "sandbox_shipments",
    "sandbox_crm_contacts",
    "sandbox_faults",
    "connector_configs",
)
ORDER_STATUSES = (
    "pending",
    "placed",
    "shipped",
    "delivered",
    "cancelled",
    "failed",
    "refund_pending",
    "partially_refunded",
    "refunded",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _id() -> sa.Column:
    return sa.Column("id", sa.String(), primary_key=True)


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE"),
    ]


def _timestamps(*names: str) -> list[sa.Column]:
    return [
        sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")) for name in names
    ]


def _key(table: str, *, nullable: bool = True, extra: tuple[str, ...] = ()) -> list[Any]:
    # A plain unique constraint (NULLs are distinct), so writers can say `ON CONFLICT (tenant_id, idempotency_key)`.
    return [
        sa.Column("idempotency_key", sa.String(), nullable=nullable),
        sa.UniqueConstraint("tenant_id", "idempotency_key", *extra, name=f"uq_{table}_idempotency_key"),
    ]


def _text(name: str, *, nullable: bool = False, default: str | None = None) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=nullable, server_default=default)


def _int(name: str, *, default: str | None = None, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable, server_default=default)


def _create_commerce_tables() -> None:
    op.create_table(
        "customers",
        _id(),
        *_tenant("customers"),
        _text("email"),
        _text("name"),
        _text("phone", nullable=True),
        *_timestamps("created_at"),
        sa.UniqueConstraint("tenant_id", "email", name="uq_customers_tenant_email"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_customers_tenant_id_id"),
    )
    op.create_table(
        "products",
        sa.Column("tenant_id", sa.String(), primary_key=True),
        sa.Column("sku", sa.String(), primary_key=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_products_tenant", ondelete="CASCADE"),
        _text("name"),
        _int("price_cents"),
        _int("on_hand", default="0"),
        _int("reserved", default="0"),
        sa.CheckConstraint("price_cents >= 0", name="ck_products_price"),
        sa.CheckConstraint("on_hand >= 0 AND reserved >= 0 AND reserved <= on_hand", name="ck_products_stock"),
    )
    op.create_table(
        "orders",
        _id(),
        *_tenant("orders"),
        _text("customer_id"),
        _text("status", default="pending"),
        _int("total_cents"),
        _int("refunded_cents", default="0"),
        _text("currency", default="USD"),
        _text("note", default=""),
        *_key("orders"),
        # Which call cancelled the order: its retry is answered as a success, any other cancel as a conflict.
        _text("cancel_idempotency_key", nullable=True),
        # The refund in progress (key, previous status, charge, amount): a retried start is answered from
        # it instead of being refused because the order is already refund_pending.
        sa.Column("refund_started", postgresql.JSONB(), nullable=True),
        *_timestamps("created_at", "updated_at"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name="fk_orders_customer",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("tenant_id", "id", name="uq_orders_tenant_id_id"),
        sa.CheckConstraint(_in("status", ORDER_STATUSES), name="ck_orders_status"),
        sa.CheckConstraint(
            "total_cents >= 0 AND refunded_cents >= 0 AND refunded_cents <= total_cents", name="ck_orders_amounts"
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_orders_currency"),
    )
    op.create_index("ix_orders_tenant_customer", "orders", ["tenant_id", "customer_id"])
    op.create_table(
        "order_lines",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_order_lines_tenant", ondelete="CASCADE"),
        sa.Column("order_id", sa.String(), primary_key=True),
        sa.Column("sku", sa.String(), primary_key=True),
        _int("quantity"),
        _int("unit_price_cents"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "order_id"],
            ["orders.tenant_id", "orders.id"],
            name="fk_order_lines_order",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("quantity > 0", name="ck_order_lines_quantity"),
        sa.CheckConstraint("unit_price_cents >= 0", name="ck_order_lines_price"),
    )
    op.create_index("ix_order_lines_tenant_order", "order_lines", ["tenant_id", "order_id"])
    op.create_table(
        "reservations",
        _id(),
        *_tenant("reservations"),
        _text("order_id"),
        _text("sku"),
        _int("quantity"),
        _text("status", default="held"),
        *_key("reservations", nullable=False, extra=("sku",)),
        *_timestamps("created_at", "updated_at"),
        sa.CheckConstraint("quantity > 0", name="ck_reservations_quantity"),
        sa.CheckConstraint(_in("status", ("held", "released", "committed")), name="ck_reservations_status"),
    )
    op.create_index("ix_reservations_tenant_order", "reservations", ["tenant_id", "order_id"])
    op.create_table(
        "shipments",
        _id(),
        *_tenant("shipments"),
        _text("order_id"),
        _text("carrier"),
        _text("tracking_number"),
        _text("status", default="created"),
        _text("external_ref", nullable=True),
        *_key("shipments"),
        *_timestamps("created_at", "updated_at"),
        sa.CheckConstraint(
            _in("status", ("created", "in_transit", "delivered", "cancelled")), name="ck_shipments_status"
        ),
    )
    op.create_index("ix_shipments_tenant_order", "shipments", ["tenant_id", "order_id"])


def _create_engagement_tables() -> None:
    op.create_table(
        "leads",
        _id(),
        *_tenant("leads"),
        _text("name"),
        _text("email"),
        _text("company", default=""),
        _text("phone", nullable=True),
        _text("source", default=""),
        _text("notes", default=""),
        _int("score", nullable=True),
        _text("status", default="new"),
        *_key("leads"),
        *_timestamps("created_at", "updated_at"),
        sa.CheckConstraint("score IS NULL OR score BETWEEN 0 AND 100", name="ck_leads_score"),
        sa.CheckConstraint(_in("status", ("new", "qualified", "disqualified")), name="ck_leads_status"),
    )
    op.create_index("ix_leads_tenant_email", "leads", ["tenant_id", "email"])
    op.create_table(
        "tickets",
        _id(),
        *_tenant("tickets"),
        _text("conversation_id", nullable=True),
        _text("customer_id", nullable=True),
        _text("kind", default="customer"),
        _text("subject"),
        _text("body"),
        _text("priority", default="normal"),
        _text("status", default="open"),
        *_key("tickets"),
        *_timestamps("created_at", "updated_at"),
        sa.CheckConstraint(_in("kind", ("customer", "escalation", "needs_attention")), name="ck_tickets_kind"),
        sa.CheckConstraint(_in("priority", ("low", "normal", "high", "urgent")), name="ck_tickets_priority"),
        sa.CheckConstraint(_in("status", ("open", "escalated", "closed")), name="ck_tickets_status"),
    )
    op.create_index("ix_tickets_tenant_customer", "tickets", ["tenant_id", "customer_id"])
    op.create_index("ix_tickets_tenant_conversation", "tickets", ["tenant_id", "conversation_id"])


def _create_connector_tables() -> None:
    op.create_table(
        "sandbox_payments",
        _id(),
        *_tenant("sandbox_payments"),
        _text("kind"),
        _text("order_id"),
        _int("amount_cents"),
        _text("charge_id", nullable=True),
        *_key("sandbox_payments", nullable=False),
        *_timestamps("created_at"),
        sa.CheckConstraint(_in("kind", ("charge", "refund")), name="ck_sandbox_payments_kind"),
        sa.CheckConstraint("amount_cents > 0", name="ck_sandbox_payments_amount"),
        sa.CheckConstraint("(kind = 'refund') = (charge_id IS NOT NULL)", name="ck_sandbox_payments_charge"),
    )
    op.create_index("ix_sandbox_payments_tenant_order", "sandbox_payments", ["tenant_id", "order_id"])
    op.create_table(
        "sandbox_shipments",
        _id(),
        *_tenant("sandbox_shipments"),
        _text("order_id"),
        _text("status", default="created"),
        *_key("sandbox_shipments", nullable=False),
        *_timestamps("created_at", "updated_at"),
        sa.CheckConstraint(_in("status", ("created", "cancelled")), name="ck_sandbox_shipments_status"),
    )
    op.create_index("ix_sandbox_shipments_tenant_order", "sandbox_shipments", ["tenant_id", "order_id"])
    op.create_table(
        "sandbox_crm_contacts",
        _id(),
        *_tenant("sandbox_crm_contacts"),
        _text("email"),
        sa.Column("payload", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        *_key("sandbox_crm_contacts", nullable=False),
        *_timestamps("created_at"),
    )
    op.create_index("ix_sandbox_crm_contacts_tenant_email", "sandbox_crm_contacts", ["tenant_id", "email"])
    op.create_table(
        "sandbox_faults",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        *_tenant("sandbox_faults"),
        _text("operation"),
        _text("mode"),
        _int("remaining"),
        _int("latency_ms", default="0"),
        *_timestamps("created_at"),
        sa.CheckConstraint(_in("mode", ("fail", "transient", "latency")), name="ck_sandbox_faults_mode"),
        sa.CheckConstraint("remaining >= -1", name="ck_sandbox_faults_remaining"),
        sa.CheckConstraint("latency_ms BETWEEN 0 AND 600000", name="ck_sandbox_faults_latency"),
    )
    op.create_index("ix_sandbox_faults_tenant_operation", "sandbox_faults", ["tenant_id", "operation", "id"])
    op.create_table(
        "connector_configs",
        sa.Column("tenant_id", sa.String(), primary_key=True),
        sa.Column("system", sa.String(), primary_key=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_connector_configs_tenant", ondelete="CASCADE"),
        _text("kind", default="sandbox"),
        _text("base_url", nullable=True),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("timeout_seconds", sa.Float(), nullable=False, server_default=sa.text("10")),
        *_timestamps("updated_at"),
        sa.CheckConstraint(_in("system", ("payments", "shipping", "crm")), name="ck_connector_configs_system"),
        sa.CheckConstraint(_in("kind", ("sandbox", "http")), name="ck_connector_configs_kind"),
        sa.CheckConstraint("timeout_seconds > 0 AND timeout_seconds <= 60", name="ck_connector_configs_timeout"),
        # An HTTP connector without an address or a signing secret could only fail, or call out unsigned.
        sa.CheckConstraint(
            "kind = 'sandbox' OR (base_url IS NOT NULL AND secret_ciphertext IS NOT NULL)",
            name="ck_connector_configs_http",
        ),
    )


def _protect(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
    )


def upgrade() -> None:
    _create_commerce_tables()
    _create_engagement_tables()
    _create_connector_tables()
    for table in _TABLES:
        _protect(table)


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
