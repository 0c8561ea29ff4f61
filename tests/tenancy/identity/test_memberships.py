"""Users and their tenant memberships: a user is one row across tenants, a membership belongs to its tenant."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.database import Database
from tenancy.tenants import ensure_user, set_member_role, set_platform_role
from tests.tenancy.conftest import unique_name


async def test_memberships_stay_inside_their_tenant(
    two_tenants: tuple[str, str], admin_db: Database, app_db: Database
) -> None:
    a, b = two_tenants
    subject = unique_name("member")
    async with admin_db.admin_session() as session:
        user_id = await ensure_user(session, subject=subject, email="m@example.test")
        assert await ensure_user(session, subject=subject) == user_id
    async with app_db.tenant_session(a) as session:
        assert await set_member_role(session, tenant_id=a, user_id=user_id, role="viewer", actor="test")
        assert await set_member_role(session, tenant_id=a, user_id=user_id, role="admin", actor="test")
        assert not await set_member_role(session, tenant_id=a, user_id=user_id, role="admin", actor="test")
    async with app_db.tenant_session(b) as session:
        seen = await (await session.connection()).scalar(text("SELECT count(*) FROM memberships"))
        assert seen == 0
        # Writing a row for another tenant fails the policy's check, not just the read filter.
        with pytest.raises(DBAPIError):
            await set_member_role(session, tenant_id=a, user_id=user_id, role="owner", actor="test")
    async with app_db.tenant_session(a) as session:
        role = await (await session.connection()).scalar(text("SELECT role FROM memberships"))
        assert role == "admin"


async def test_only_platform_roles_are_granted_on_the_platform(admin_db: Database) -> None:
    with pytest.raises(ValueError):
        async with admin_db.admin_session() as session:
            await set_platform_role(session, subject="x", role="owner")
