"""The commerce domain's tables (migration 0005): what the agent tools and order sagas read and change.

Customers, products with stock, orders with their lines, stock reservations, shipments, sales leads and
support tickets; the sandbox connectors' own state (payments, shipments, CRM contacts, injected faults); and
each tenant's choice of connector per external system. Every table is a tenant table under forced row-level
security. Writers that may run twice (retried activities, saga steps) carry an `idempotency_key` that is
unique per tenant, so the second write finds the first instead of repeating it.

The migration is the source of truth; `tests/tenancy/test_schema.py` fails when these models drift from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKeyConstraint,
    Identity,
    Index,
    LargeBinary,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from db.tables import _in, _timestamp, new_id

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
RESERVATION_STATUSES = ("held", "released", "committed")
SHIPMENT_STATUSES = ("created", "in_transit", "delivered", "cancelled")
LEAD_STATUSES = ("new", "qualified", "disqualified")
TICKET_KINDS = ("customer", "escalation", "needs_attention")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("open", "escalated", "closed")
PAYMENT_KINDS = ("charge", "refund")
SANDBOX_SHIPMENT_STATUSES = ("created", "cancelled")
FAULT_MODES = ("fail", "transient", "latency")
CONNECTOR_SYSTEMS = ("payments", "shipping", "crm")
CONNECTOR_KINDS = ("sandbox", "http")
MAX_CONNECTOR_TIMEOUT_SECONDS = 60.0
DEFAULT_CONNECTOR_TIMEOUT_SECONDS = 10.0


def _tenant_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE")


def _key_unique(table: str, *extra: str) -> UniqueConstraint:
    return UniqueConstraint("tenant_id", "idempotency_key", *extra, name=f"uq_{table}_idempotency_key")


def _default(value: str) -> Any:
    return Field(default=value, sa_column_kwargs={"server_default": value})


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (
        _tenant_fk("customers"),
        UniqueConstraint("tenant_id", "email", name="uq_customers_tenant_email"),
        # Target of the orders' composite key: an order can only name a customer of its own tenant.
        UniqueConstraint("tenant_id", "id", name="uq_customers_tenant_id_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    email: str
    name: str
    phone: str | None = None
    created_at: datetime = _timestamp()


class Product(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (
        _tenant_fk("products"),
        CheckConstraint("price_cents >= 0", name="ck_products_price"),
        # Available stock is `on_hand - reserved`; it can never go negative.
        CheckConstraint("on_hand >= 0 AND reserved >= 0 AND reserved <= on_hand", name="ck_products_stock"),
    )

    tenant_id: str = Field(primary_key=True)
    sku: str = Field(primary_key=True)
    name: str
    price_cents: int
    on_hand: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    reserved: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name="fk_orders_customer",
            ondelete="CASCADE",
        ),
        _tenant_fk("orders"),
        UniqueConstraint("tenant_id", "id", name="uq_orders_tenant_id_id"),
        _key_unique("orders"),
        CheckConstraint(_in("status", ORDER_STATUSES), name="ck_orders_status"),
        CheckConstraint(
            "total_cents >= 0 AND refunded_cents >= 0 AND refunded_cents <= total_cents", name="ck_orders_amounts"
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_orders_currency"),
        Index("ix_orders_tenant_customer", "tenant_id", "customer_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    customer_id: str
    status: str = _default("pending")
    total_cents: int
    refunded_cents: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    currency: str = _default("USD")
    # Free text the customer wrote: untrusted, shown to models only as data.
    note: str = Field(default="", sa_column_kwargs={"server_default": ""})
    idempotency_key: str | None = None
    # The key of the call that cancelled the order: its retry is a success, any other cancel a conflict.
    cancel_idempotency_key: str | None = None
    # The refund in progress (key, previous status, charge, amount), so a retried start finds its own.
    refund_started: dict[str, Any] | None = Field(
        default=None, sa_column=Column("refund_started", JSONB, nullable=True)
    )
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp(onupdate=True)


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_lines"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "order_id"],
            ["orders.tenant_id", "orders.id"],
            name="fk_order_lines_order",
            ondelete="CASCADE",
        ),
        _tenant_fk("order_lines"),
        CheckConstraint("quantity > 0", name="ck_order_lines_quantity"),
        CheckConstraint("unit_price_cents >= 0", name="ck_order_lines_price"),
        Index("ix_order_lines_tenant_order", "tenant_id", "order_id"),
    )

    tenant_id: str
    order_id: str = Field(primary_key=True)
    sku: str = Field(primary_key=True)
    quantity: int
    unit_price_cents: int


class Reservation(SQLModel, table=True):
    """Stock held for an order: `held` counts in `products.reserved`, `committed` has left `on_hand`."""

    __tablename__ = "reservations"
    __table_args__ = (
        _tenant_fk("reservations"),
        _key_unique("reservations", "sku"),
        CheckConstraint("quantity > 0", name="ck_reservations_quantity"),
        CheckConstraint(_in("status", RESERVATION_STATUSES), name="ck_reservations_status"),
        Index("ix_reservations_tenant_order", "tenant_id", "order_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    order_id: str
    sku: str
    quantity: int
    status: str = _default("held")
    idempotency_key: str
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp(onupdate=True)


class Shipment(SQLModel, table=True):
    __tablename__ = "shipments"
    __table_args__ = (
        _tenant_fk("shipments"),
        _key_unique("shipments"),
        CheckConstraint(_in("status", SHIPMENT_STATUSES), name="ck_shipments_status"),
        Index("ix_shipments_tenant_order", "tenant_id", "order_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    order_id: str
    carrier: str
    tracking_number: str
    status: str = _default("created")
    # The shipping connector's id for the shipment, which cancelling it needs.
    external_ref: str | None = None
    idempotency_key: str | None = None
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp(onupdate=True)


class Lead(SQLModel, table=True):
    __tablename__ = "leads"
    __table_args__ = (
        _tenant_fk("leads"),
        _key_unique("leads"),
        CheckConstraint("score IS NULL OR score BETWEEN 0 AND 100", name="ck_leads_score"),
        CheckConstraint(_in("status", LEAD_STATUSES), name="ck_leads_status"),
        Index("ix_leads_tenant_email", "tenant_id", "email"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    name: str
    email: str
    company: str = Field(default="", sa_column_kwargs={"server_default": ""})
    phone: str | None = None
    source: str = Field(default="", sa_column_kwargs={"server_default": ""})
    notes: str = Field(default="", sa_column_kwargs={"server_default": ""})
    score: int | None = None
    status: str = _default("new")
    idempotency_key: str | None = None
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp(onupdate=True)


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        _tenant_fk("tickets"),
        _key_unique("tickets"),
        CheckConstraint(_in("kind", TICKET_KINDS), name="ck_tickets_kind"),
        CheckConstraint(_in("priority", TICKET_PRIORITIES), name="ck_tickets_priority"),
        CheckConstraint(_in("status", TICKET_STATUSES), name="ck_tickets_status"),
        Index("ix_tickets_tenant_customer", "tenant_id", "customer_id"),
        Index("ix_tickets_tenant_conversation", "tenant_id", "conversation_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    conversation_id: str | None = None
    customer_id: str | None = None
    kind: str = _default("customer")
    subject: str
    body: str
    priority: str = _default("normal")
    status: str = _default("open")
    idempotency_key: str | None = None
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp(onupdate=True)


class SandboxPayment(SQLModel, table=True):
    __tablename__ = "sandbox_payments"
    __table_args__ = (
        _tenant_fk("sandbox_payments"),
        _key_unique("sandbox_payments"),
        CheckConstraint(_in("kind", PAYMENT_KINDS), name="ck_sandbox_payments_kind"),
        CheckConstraint("amount_cents > 0", name="ck_sandbox_payments_amount"),
        CheckConstraint("(kind = 'refund') = (charge_id IS NOT NULL)", name="ck_sandbox_payments_charge"),
        Index("ix_sandbox_payments_tenant_order", "tenant_id", "order_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    kind: str
    order_id: str
    amount_cents: int
    # A refund's charge; None for charges.
    charge_id: str | None = None
    idempotency_key: str
    created_at: datetime = _timestamp()


class SandboxShipment(SQLModel, table=True):
    __tablename__ = "sandbox_shipments"
    __table_args__ = (
        _tenant_fk("sandbox_shipments"),
        _key_unique("sandbox_shipments"),
        CheckConstraint(_in("status", SANDBOX_SHIPMENT_STATUSES), name="ck_sandbox_shipments_status"),
        Index("ix_sandbox_shipments_tenant_order", "tenant_id", "order_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    order_id: str
    status: str = _default("created")
    idempotency_key: str
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp(onupdate=True)


class SandboxCrmContact(SQLModel, table=True):
    __tablename__ = "sandbox_crm_contacts"
    __table_args__ = (
        _tenant_fk("sandbox_crm_contacts"),
        _key_unique("sandbox_crm_contacts"),
        Index("ix_sandbox_crm_contacts_tenant_email", "tenant_id", "email"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    email: str
    payload: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    idempotency_key: str
    created_at: datetime = _timestamp()


class SandboxFault(SQLModel, table=True):
    """A fault the next calls of one operation meet (`commerce/connectors/faults.py`)."""

    __tablename__ = "sandbox_faults"
    __table_args__ = (
        _tenant_fk("sandbox_faults"),
        CheckConstraint(_in("mode", FAULT_MODES), name="ck_sandbox_faults_mode"),
        CheckConstraint("remaining >= -1", name="ck_sandbox_faults_remaining"),
        CheckConstraint("latency_ms BETWEEN 0 AND 600000", name="ck_sandbox_faults_latency"),
        Index("ix_sandbox_faults_tenant_operation", "tenant_id", "operation", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column("id", BigInteger, Identity(always=False), primary_key=True))
    tenant_id: str
    operation: str
    mode: str
    # How many more calls meet the fault; -1 is every call until cleared.
    remaining: int
    latency_ms: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _timestamp()


class ConnectorConfig(SQLModel, table=True):
    """Which connector a tenant uses per external system; no row means the sandbox."""

    __tablename__ = "connector_configs"
    __table_args__ = (
        _tenant_fk("connector_configs"),
        CheckConstraint(_in("system", CONNECTOR_SYSTEMS), name="ck_connector_configs_system"),
        CheckConstraint(_in("kind", CONNECTOR_KINDS), name="ck_connector_configs_kind"),
        CheckConstraint("timeout_seconds > 0 AND timeout_seconds <= 60", name="ck_connector_configs_timeout"),
        CheckConstraint(
            "kind = 'sandbox' OR (base_url IS NOT NULL AND secret_ciphertext IS NOT NULL)",
            name="ck_connector_configs_http",
        ),
    )

    tenant_id: str = Field(primary_key=True)
    system: str = Field(primary_key=True)
    kind: str = _default("sandbox")
    base_url: str | None = None
    # The HTTP connector's signing secret, AES-GCM sealed under the tenant's data key; never returned by the API.
    secret_ciphertext: bytes | None = Field(default=None, sa_type=LargeBinary)
    timeout_seconds: float = Field(
        default=DEFAULT_CONNECTOR_TIMEOUT_SECONDS, sa_type=Float, sa_column_kwargs={"server_default": text("10")}
    )
    updated_at: datetime = _timestamp(onupdate=True)


COMMERCE_TABLES: tuple[type[SQLModel], ...] = (
    Customer,
    Product,
    Order,
    OrderLine,
    Reservation,
    Shipment,
    Lead,
    Ticket,
    SandboxPayment,
    SandboxShipment,
    SandboxCrmContact,
    SandboxFault,
    ConnectorConfig,
)
