"""Tables of the tool runtime (migration 0006): the calls of each turn and each tenant's enabled tools.

`tool_calls` holds one row per tool call, keyed by the call's message and id, so the runtime and the
workflow's own outcome recording (approval denied, unknown tool) upsert the same row and a retried
attempt never adds a second. `tenant_tools` holds only the tenant's deviations from the defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKeyConstraint, Index, Integer, PrimaryKeyConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from db.tables import _in, _timestamp

TOOL_CALL_STATUSES = ("running", "ok", "error", "denied", "unavailable")


def _jsonb(name: str) -> Any:
    return Field(
        default_factory=dict,
        sa_column=Column(name, JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )


def _int(name: str, default: int) -> Any:
    return Field(default=default, sa_column=Column(name, Integer, nullable=False, server_default=str(default)))


class ToolCall(SQLModel, table=True):
    __tablename__ = "tool_calls"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "message_id", "call_id", name="pk_tool_calls"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_tool_calls_tenant", ondelete="CASCADE"),
        Index("ix_tool_calls_tenant_conversation", "tenant_id", "conversation_id"),
        CheckConstraint(_in("status", TOOL_CALL_STATUSES), name="ck_tool_calls_status"),
    )

    tenant_id: str = Field(primary_key=True)
    message_id: str = Field(primary_key=True)
    call_id: str = Field(primary_key=True)
    conversation_id: str
    step: int = _int("step", 0)
    call_index: int = _int("call_index", 0)
    tool: str
    version: int = _int("version", 1)
    arguments: dict[str, Any] = _jsonb("arguments")
    # One of TOOL_CALL_STATUSES; the migration's check constraint enforces it.
    status: str
    output: dict[str, Any] = _jsonb("output")
    error_type: str = Field(default="", sa_column_kwargs={"server_default": ""})
    message: str = Field(default="", sa_column_kwargs={"server_default": ""})
    attempts: int = _int("attempts", 1)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp(onupdate=True)


class TenantTool(SQLModel, table=True):
    __tablename__ = "tenant_tools"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "tool", name="pk_tenant_tools"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_tenant_tools_tenant", ondelete="CASCADE"),
    )

    tenant_id: str = Field(primary_key=True)
    tool: str = Field(primary_key=True)
    enabled: bool
    updated_at: datetime = _timestamp(onupdate=True)


TOOL_TABLES: tuple[type[SQLModel], ...] = (ToolCall, TenantTool)
