"""The audit log's table: `audit.events`, one hash chain of security events per tenant.

It lives in a schema of its own because its privileges differ from every other tenant table: the app role
may insert and read but never change a row, and `db.migrate` grants full DML on the tenant tables of
`public` each time it runs. The schema is created by migration 0004;
`tests/workflows/tenant_lifecycle/test_schema.py` fails
when this model and the migration disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Identity, Index, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

AUDIT_SCHEMA = "audit"
HASH_PATTERN = "^[0-9a-f]{64}$"


class AuditEvent(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        # A second writer that skipped the lock still cannot fork the chain: the sequence number is unique.
        UniqueConstraint("tenant_id", "seq", name="uq_audit_events_tenant_seq"),
        CheckConstraint("seq > 0", name="ck_audit_events_seq"),
        CheckConstraint(f"prev_hash ~ '{HASH_PATTERN}' AND hash ~ '{HASH_PATTERN}'", name="ck_audit_events_hashes"),
        Index("ix_audit_events_tenant_id_id", "tenant_id", "id"),
        Index("ix_audit_events_tenant_action", "tenant_id", "action", "id"),
        Index("ix_audit_events_tenant_occurred", "tenant_id", "occurred_at"),
        Index(
            "uq_audit_events_idempotency_key",
            "tenant_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        {"schema": AUDIT_SCHEMA},
    )

    id: int | None = Field(default=None, sa_column=Column("id", BigInteger, Identity(always=True), primary_key=True))
    tenant_id: str
    seq: int = Field(sa_type=BigInteger)
    occurred_at: datetime = Field(sa_type=DateTime(timezone=True))
    actor: str
    action: str
    target: str | None = None
    details: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    # Set by writers that may run twice (retried activities): the second write finds the first.
    idempotency_key: str | None = None
    prev_hash: str
    hash: str


AUDIT_TABLES: tuple[type[SQLModel], ...] = (AuditEvent,)
