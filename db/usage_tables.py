"""Tables of cost control (migration 0008): the usage ledger and the tenants' budgets.

The ledger is written with plain SQL by `policies.cost_guard` (its state machine lives in the UPDATE
statements' WHERE clauses); these models describe the schema so `tests/tenancy/test_schema.py` can hold
it against the migration.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from db.tables import _in, _timestamp

LEDGER_KINDS = ("model", "tool")
LEDGER_STATUSES = ("reserved", "settled", "refunded")
BUDGET_LIMITS = ("daily_soft_usd", "daily_hard_usd", "monthly_soft_usd", "monthly_hard_usd")
MONEY_DIGITS, MONEY_PLACES = 14, 6


def _usd(name: str) -> Decimal:
    column = Column(name, Numeric(MONEY_DIGITS, MONEY_PLACES), nullable=False, server_default="0")
    return Field(default=Decimal(0), sa_column=column)


def _limit(name: str) -> Decimal | None:
    return Field(default=None, sa_column=Column(name, Numeric(MONEY_DIGITS, MONEY_PLACES), nullable=True))


def _text() -> str:
    return Field(default="", sa_column_kwargs={"server_default": ""})


def _count() -> int:
    return Field(default=0, sa_column_kwargs={"server_default": "0"})


class UsageLedgerRow(SQLModel, table=True):
    __tablename__ = "usage_ledger"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "key", name="pk_usage_ledger"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_usage_ledger_tenant", ondelete="CASCADE"),
        CheckConstraint(_in("kind", LEDGER_KINDS), name="ck_usage_ledger_kind"),
        CheckConstraint(_in("status", LEDGER_STATUSES), name="ck_usage_ledger_status"),
        CheckConstraint(
            "prompt_tokens >= 0 AND completion_tokens >= 0 AND reserved_usd >= 0 AND cost_usd >= 0",
            name="ck_usage_ledger_amounts",
        ),
        Index("ix_usage_ledger_tenant_created", "tenant_id", "created_at"),
        Index("ix_usage_ledger_tenant_status_expires", "tenant_id", "status", "expires_at"),
        Index("ix_usage_ledger_reserved_expires", "expires_at", postgresql_where=text("status = 'reserved'")),
    )

    tenant_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    kind: str
    status: str
    workflow_id: str
    conversation_id: str | None = None
    agent: str = _text()
    model: str = _text()
    tool: str = _text()
    prompt_tokens: int = _count()
    completion_tokens: int = _count()
    reserved_usd: Decimal = _usd("reserved_usd")
    cost_usd: Decimal = _usd("cost_usd")
    created_at: datetime = _timestamp()
    settled_at: datetime | None = _timestamp(nullable=True)
    # When a reservation stops counting against the budget and the sweep refunds it.
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)


class BudgetRow(SQLModel, table=True):
    __tablename__ = "budgets"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", name="pk_budgets"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_budgets_tenant", ondelete="CASCADE"),
    )

    tenant_id: str = Field(primary_key=True)
    daily_soft_usd: Decimal | None = _limit("daily_soft_usd")
    daily_hard_usd: Decimal | None = _limit("daily_hard_usd")
    monthly_soft_usd: Decimal | None = _limit("monthly_soft_usd")
    monthly_hard_usd: Decimal | None = _limit("monthly_hard_usd")
    updated_at: datetime = _timestamp(onupdate=True)


USAGE_TABLES: tuple[type[SQLModel], ...] = (UsageLedgerRow, BudgetRow)
