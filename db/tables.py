"""Tables owned by tenancy. Every tenant table carries `tenant_id` and sits under forced row-level security.

The schema itself is created by the Alembic migrations in `db/migrations`, not by `create_all`;
`tests/tenancy/test_schema.py` fails when these models and the migrations disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Index,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from tenancy.lifecycle import DATA_REGIONS, DEFAULT_DATA_REGION

PLANS = ("free", "pro", "enterprise")
TENANT_STATUSES = ("active", "suspended", "offboarding")
DOUBLE_TEXTING = ("enqueue", "reject", "interrupt")
MESSAGE_ROLES = ("user", "assistant")


def new_id() -> str:
    return str(uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _timestamp(*, nullable: bool = False, onupdate: bool = False) -> Any:
    # The server default covers rows written by plain SQL (functions, backfills); the Python default keeps
    # the value on the instance after flush, so async code never lazy-loads an expired attribute.
    kwargs: dict[str, Any] = {}
    if not nullable:
        kwargs["server_default"] = text("now()")
    if onupdate:
        kwargs["onupdate"] = utcnow
    return Field(
        default_factory=None if nullable else utcnow,
        sa_type=DateTime(timezone=True),
        nullable=nullable,
        sa_column_kwargs=kwargs,
    )


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(_in("plan", PLANS), name="ck_tenants_plan"),
        CheckConstraint(_in("status", TENANT_STATUSES), name="ck_tenants_status"),
        CheckConstraint(_in("data_region", DATA_REGIONS), name="ck_tenants_data_region"),
        UniqueConstraint("slug", name="uq_tenants_slug"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    slug: str
    plan: str = Field(default="free", sa_column_kwargs={"server_default": "free"})
    status: str = Field(default="active", sa_column_kwargs={"server_default": "active"})
    created_at: datetime = _timestamp()
    # Lifecycle (tenancy.lifecycle): set by migration 0004 and the tenant admin functions.
    data_region: str = Field(default=DEFAULT_DATA_REGION, sa_column_kwargs={"server_default": DEFAULT_DATA_REGION})
    offboarding_started_at: datetime | None = _timestamp(nullable=True)
    purge_after: datetime | None = _timestamp(nullable=True)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant", ondelete="CASCADE"),
        Index("ix_api_keys_prefix", "prefix", unique=True),
        Index("ix_api_keys_tenant_id", "tenant_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    name: str
    prefix: str
    secret_hash: str
    scopes: list[str] = Field(
        default_factory=list,
        sa_column=Column("scopes", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    created_at: datetime = _timestamp()
    expires_at: datetime | None = _timestamp(nullable=True)
    revoked_at: datetime | None = _timestamp(nullable=True)
    last_used_at: datetime | None = _timestamp(nullable=True)
    # A tenant role (tenancy.permissions); the tenant's first key is its owner's.
    role: str = Field(default="owner", sa_column_kwargs={"server_default": "owner"})
    # The key this one replaced; the old key's `expires_at` marks the end of their overlap.
    rotated_from: str | None = None


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_conversations_tenant", ondelete="CASCADE"),
        # Target of the messages' composite foreign key: a message can only point at a conversation of
        # its own tenant, even though foreign-key checks themselves ignore row-level security.
        UniqueConstraint("tenant_id", "id", name="uq_conversations_tenant_id_id"),
        CheckConstraint(_in("double_texting", DOUBLE_TEXTING), name="ck_conversations_double_texting"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    agent: str
    channel: str
    # `metadata` is reserved on declarative classes, so the attribute is `meta` over a `metadata` column.
    meta: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    double_texting: str = Field(default="enqueue", sa_column_kwargs={"server_default": "enqueue"})
    status: str = Field(default="open", sa_column_kwargs={"server_default": "open"})
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp(onupdate=True)
    # The customer this conversation acts for; None: anonymous. Its composite foreign key to `customers`
    # (migration 0007) is not declared here, so these models stay usable without the commerce models:
    # `db.agent_tables.conversation_customer_fk` carries it for the schema comparison.
    customer_id: str | None = None


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "conversation_id"],
            ["conversations.tenant_id", "conversations.id"],
            name="fk_messages_conversation",
            ondelete="CASCADE",
        ),
        CheckConstraint(_in("role", MESSAGE_ROLES), name="ck_messages_role"),
        Index("ix_messages_tenant_conversation", "tenant_id", "conversation_id", "seq"),
        # A retried submit carries the same client id and must not create a second user message.
        Index(
            "uq_messages_client_message_id",
            "tenant_id",
            "conversation_id",
            "client_message_id",
            unique=True,
            postgresql_where=text("client_message_id IS NOT NULL"),
        ),
        # A retried model activity must not write a second answer to the same user message.
        Index(
            "uq_messages_reply_to",
            "tenant_id",
            "reply_to",
            unique=True,
            postgresql_where=text("reply_to IS NOT NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    tenant_id: str
    conversation_id: str
    role: str
    content: str
    client_message_id: str | None = None
    reply_to: str | None = None
    model: str | None = None
    created_at: datetime = _timestamp()
    # Assigned by the database; None until the row is flushed.
    seq: int | None = Field(
        default=None,
        sa_column=Column("seq", BigInteger, Identity(always=False), nullable=False),
    )


TENANT_TABLES: tuple[type[SQLModel], ...] = (Tenant, ApiKey, Conversation, Message)
