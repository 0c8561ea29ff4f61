"""The identity schema as deployed: platform tables closed to the app role, memberships under row-level
security, narrow definer functions, models that agree with the migration, and a downgrade that works."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from db.database import Database
from db.identity_tables import IDENTITY_TABLES
from db.migrate import APP_ROLE, migrate
from db.tables import TENANT_TABLES
from tenancy.tenants import ensure_user, set_member_role, set_platform_role
from tests.db.migrations import run_alembic
from tests.tenancy.conftest import Urls


def _table_of(change: Any) -> str | None:
    """The table an Alembic diff entry is about: a table name, a table, or something of a table."""
    if isinstance(change, list):  # modifications of one column come grouped
        return _table_of(change[0])
    for item in change[1:]:
        if isinstance(item, str):
            return item
        if isinstance(item, Table):
            return str(item.name)
        if getattr(item, "table", None) is not None:
            return str(item.table.name)
    return None


def _diff(connection: Connection) -> list[Any]:
    # The tenancy tables come along as foreign-key targets; only the identity tables are judged here.
    metadata = MetaData()
    for model in (*TENANT_TABLES, *IDENTITY_TABLES):
        model.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    ours = {model.__tablename__ for model in IDENTITY_TABLES}
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [change for change in compare_metadata(context, metadata) if _table_of(change) in ours]


async def test_models_match_the_migration(admin_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_platform_tables_are_closed_to_the_app_role(admin_db: Database, app_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        for table in ("users", "platform_admins"):
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                assert not await conn.scalar(
                    text("SELECT has_table_privilege(:r, :t, :p)"),
                    {"r": APP_ROLE, "t": f"public.{table}", "p": privilege},
                ), f"{APP_ROLE} may {privilege} {table}"
    for table in ("users", "platform_admins"):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with app_db.engine.connect() as conn:
                await conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608


async def test_identity_function_is_definer_and_only_for_the_app_role(admin_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT p.prosecdef, p.proconfig, has_function_privilege(:r, p.oid, 'EXECUTE') AS app_may, "
                    "has_function_privilege('public', p.oid, 'EXECUTE') AS public_may FROM pg_proc p "
                    "WHERE p.pronamespace = 'public'::regnamespace AND p.proname = 'auth_lookup_identity'"
                ),
                {"r": APP_ROLE},
            )
        ).one()
    assert row.prosecdef and row.app_may and not row.public_may
    assert any(setting.startswith("search_path=") for setting in row.proconfig)


async def test_memberships_stay_inside_their_tenant(
    two_tenants: tuple[str, str], admin_db: Database, app_db: Database
) -> None:
    a, b = two_tenants
    async with admin_db.admin_session() as session:
        user_id = await ensure_user(session, subject=f"member-{a}", email="m@example.test")
        assert await ensure_user(session, subject=f"member-{a}") == user_id
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
    with pytest.raises(ValueError):
        async with admin_db.admin_session() as session:
            await set_platform_role(session, subject="x", role="owner")


async def test_downgrade_and_upgrade_again(urls: Urls, fresh_database: str) -> None:
    await migrate(fresh_database, urls.app_password)
    db = Database(fresh_database, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: run_alembic(sync, "downgrade", "0002"))
            assert await conn.scalar(text("SELECT to_regclass('public.memberships')")) is None
            assert (
                await conn.scalar(
                    text(
                        "SELECT count(*) FROM information_schema.columns "
                        "WHERE table_name = 'api_keys' AND column_name = 'role'"
                    )
                )
                == 0
            )
            await conn.run_sync(lambda sync: run_alembic(sync, "upgrade", "head"))
            assert await conn.scalar(text("SELECT to_regclass('public.memberships')")) is not None
    finally:
        await db.close()
    await migrate(fresh_database, urls.app_password)
