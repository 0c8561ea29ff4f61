"""Who people are and what they may do: users, their tenant memberships, and platform administrators.

`users` and `platform_admins` are platform-level: they carry no tenant, so the app role gets no grant on
them and reaches them only through the `auth_lookup_identity` security-definer function. `memberships`
belongs to a tenant and sits under forced row-level security like every other tenant table. The schema is
created by migration 0003; `tests/tenancy/identity/test_schema.py` fails when these models and it disagree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from db.tables import _in, _timestamp, new_id
from tenancy.permissions import PLATFORM_ROLES, TENANT_ROLES


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("subject", name="uq_users_subject"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    # The identity provider's `sub`: stable across tenants, so one person is one user in every tenant.
    subject: str
    email: str | None = None
    display_name: str | None = None
    created_at: datetime = _timestamp()


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_memberships_tenant", ondelete="CASCADE"),
        ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_memberships_user", ondelete="CASCADE"),
        CheckConstraint(_in("role", TENANT_ROLES), name="ck_memberships_role"),
        Index("ix_memberships_user_id", "user_id"),
    )

    tenant_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)
    role: str
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp(onupdate=True)


class PlatformAdmin(SQLModel, table=True):
    __tablename__ = "platform_admins"
    __table_args__ = (CheckConstraint(_in("role", PLATFORM_ROLES), name="ck_platform_admins_role"),)

    # Keyed by subject rather than user id: an administrator can be named before first signing in.
    subject: str = Field(primary_key=True)
    role: str
    created_at: datetime = _timestamp()


IDENTITY_TABLES: tuple[type[SQLModel], ...] = (User, Membership, PlatformAdmin)
