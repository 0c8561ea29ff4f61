"""Tables of the agent runtime (migration 0007): tenant agent definitions and approval requests.

An agent definition row is immutable: saving an agent adds the next version, so a conversation that
resolved version 3 keeps reading exactly what it resolved. Approval rows are written by the workflow's
approval activity (pending, then decided or expired) and read by the gateway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKeyConstraint, Index, Integer, PrimaryKeyConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from db.tables import _in, _timestamp

APPROVAL_STATUSES = ("pending", "approved", "denied", "expired")


class AgentDefinitionRow(SQLModel, table=True):
    __tablename__ = "agent_definitions"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "name", "version", name="pk_agent_definitions"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_agent_definitions_tenant", ondelete="CASCADE"),
        CheckConstraint("version >= 1", name="ck_agent_definitions_version"),
    )

    tenant_id: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    version: int = Field(sa_column=Column("version", Integer, primary_key=True, nullable=False))
    # The validated `contracts.agents.AgentDefinition`, as JSON.
    definition: dict[str, Any] = Field(sa_column=Column("definition", JSONB, nullable=False))
    created_at: datetime = _timestamp()
    created_by: str = Field(default="", sa_column_kwargs={"server_default": ""})


class ApprovalRow(SQLModel, table=True):
    __tablename__ = "approvals"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_approvals_tenant", ondelete="CASCADE"),
        Index("ix_approvals_tenant_conversation", "tenant_id", "conversation_id"),
        CheckConstraint(_in("status", APPROVAL_STATUSES), name="ck_approvals_status"),
    )

    id: str = Field(primary_key=True)
    tenant_id: str
    conversation_id: str
    message_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column("arguments", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    status: str
    requested_at: datetime = _timestamp()
    expires_at: datetime | None = _timestamp(nullable=True)
    decided_at: datetime | None = _timestamp(nullable=True)
    decided_by: str = Field(default="", sa_column_kwargs={"server_default": ""})
    note: str = Field(default="", sa_column_kwargs={"server_default": ""})


AGENT_TABLES: tuple[type[SQLModel], ...] = (AgentDefinitionRow, ApprovalRow)


def conversation_customer_fk() -> ForeignKeyConstraint:
    """`conversations (tenant_id, customer_id) -> customers (tenant_id, id)` from migration 0007.

    Kept off the `Conversation` model, which is used (and compared) without the commerce tables; schema
    comparisons that include `customers` append it to their copy of `conversations`.
    """
    return ForeignKeyConstraint(
        ["tenant_id", "customer_id"], ["customers.tenant_id", "customers.id"], name="fk_conversations_customer"
    )
