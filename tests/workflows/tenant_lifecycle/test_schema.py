"""The lifecycle and audit schema as deployed: the audit table insert-only for the app role and under
row-level security, narrow definer functions, a model that agrees with the migration, and a downgrade."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from db.audit_tables import AUDIT_SCHEMA, AUDIT_TABLES
from db.database import Database
from db.migrate import APP_ROLE, migrate
from tests.db.migrations import run_alembic
from tests.tenancy.conftest import Urls

_FUNCTIONS = (
    "lifecycle_create_tenant",
    "lifecycle_update_tenant",
    "lifecycle_set_status",
    "lifecycle_delete_tenant",
    "lifecycle_list_tenants",
    "purge_tenant",
)


def _diff(connection: Connection) -> list[Any]:
    metadata = MetaData()
    for model in AUDIT_TABLES:
        model.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_schemas": True,
            "include_name": lambda name, kind, _parents: kind != "schema" or name == AUDIT_SCHEMA,
        },
    )
    return compare_metadata(context, metadata)


async def test_the_audit_model_matches_the_migration(admin_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_the_app_role_may_only_append_and_read(admin_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        granted = {
            privilege: await conn.scalar(
                text("SELECT has_table_privilege(:r, 'audit.events', :p)"), {"r": APP_ROLE, "p": privilege}
            )
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
        }
        row = (
            await conn.execute(
                text("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'audit.events'::regclass")
            )
        ).one()
    assert granted == {"SELECT": True, "INSERT": True, "UPDATE": False, "DELETE": False, "TRUNCATE": False}
    assert row.relrowsecurity and row.relforcerowsecurity


async def test_an_unbound_session_sees_and_writes_no_audit_row(app_db: Database, two_tenants: tuple[str, str]) -> None:
    async with app_db.admin_session() as session:
        conn = await session.connection()
        assert await conn.scalar(text("SELECT count(*) FROM audit.events")) == 0
    with pytest.raises(DBAPIError, match="row-level security"):
        async with app_db.tenant_session(two_tenants[0]) as session:
            await (await session.connection()).execute(
                text(
                    "INSERT INTO audit.events (tenant_id, seq, occurred_at, actor, action, prev_hash, hash) "
                    "VALUES (:t, 1, now(), 'x', 'x', repeat('0', 64), repeat('0', 64))"
                ),
                {"t": two_tenants[1]},
            )


async def test_functions_are_definer_and_for_the_app_role_only(admin_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT p.proname, p.prosecdef, p.proconfig, has_function_privilege(:r, p.oid, 'EXECUTE') AS app, "
                    "has_function_privilege('public', p.oid, 'EXECUTE') AS anyone FROM pg_proc p "
                    "WHERE p.proname = ANY(:names) OR p.proname = 'lifecycle_require_bound'"
                ),
                {"r": APP_ROLE, "names": list(_FUNCTIONS)},
            )
        ).all()
    found = {row.proname: row for row in rows}
    assert set(found) == {*_FUNCTIONS, "lifecycle_require_bound"}
    for name in _FUNCTIONS:
        row = found[name]
        assert row.prosecdef and row.app and not row.anyone, name
        assert any(setting.startswith("search_path=") for setting in row.proconfig), name
    # Only ever called from inside the definer functions.
    assert not found["lifecycle_require_bound"].app and not found["lifecycle_require_bound"].anyone


async def test_writes_stay_with_the_bound_tenant(app_db: Database, two_tenants: tuple[str, str]) -> None:
    a, b = two_tenants
    for sql in (
        "SELECT lifecycle_update_tenant(:other, 'Hijacked', NULL)",
        "SELECT lifecycle_set_status(:other, 'active', 'suspended', NULL)",
        "SELECT lifecycle_delete_tenant(:other)",
        "SELECT audit.purge_tenant(:other)",
    ):
        with pytest.raises(DBAPIError, match="not bound to tenant"):
            async with app_db.tenant_session(a) as session:
                await (await session.connection()).execute(text(sql), {"other": b})


async def test_downgrade_and_upgrade_again(urls: Urls, fresh_database: str) -> None:
    await migrate(fresh_database, urls.app_password)
    db = Database(fresh_database, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: run_alembic(sync, "downgrade", "0003"))
            assert await conn.scalar(text("SELECT to_regnamespace('audit')")) is None
            columns = text("SELECT count(*) FROM information_schema.columns WHERE table_name = 'tenants'")
            assert await conn.scalar(columns) == 6
            await conn.run_sync(lambda sync: run_alembic(sync, "upgrade", "head"))
            assert await conn.scalar(text("SELECT to_regclass('audit.events')")) is not None
            assert await conn.scalar(columns) == 9
    finally:
        await db.close()
    await migrate(fresh_database, urls.app_password)
