"""Migration 0008: forced row-level security on the ledger and budgets, a narrow sweep function, checks the
database enforces on its own, and a downgrade that works."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from db.database import Database
from db.migrate import APP_ROLE, migrate
from tests.db.migrations import run_alembic
from tests.tenancy.conftest import Urls


async def test_ledger_and_budgets_are_under_forced_rls(admin_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        for table in ("usage_ledger", "budgets"):
            row = (
                await conn.execute(
                    text("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                    {"t": f"public.{table}"},
                )
            ).one()
            assert row.relrowsecurity and row.relforcerowsecurity, table


async def test_the_sweep_is_a_narrow_definer_function(admin_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT p.prosecdef, p.proconfig, has_function_privilege(:r, p.oid, 'EXECUTE') AS app, "
                    "has_function_privilege('public', p.oid, 'EXECUTE') AS anyone "
                    "FROM pg_proc p WHERE p.proname = 'usage_expire_reservations'"
                ),
                {"r": APP_ROLE},
            )
        ).one()
    assert row.prosecdef and any(setting.startswith("search_path=") for setting in row.proconfig)
    assert row.app and not row.anyone


async def test_the_app_role_sees_no_ledger_without_a_tenant(app_db: Database, two_tenants: tuple[str, str]) -> None:
    a, _b = two_tenants
    async with app_db.tenant_session(a) as session:
        await (await session.connection()).execute(
            text(
                "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, expires_at) "
                "VALUES (:t, :k, 'model', 'reserved', 'wf', now())"
            ),
            {"t": a, "k": str(uuid.uuid4())},
        )
    async with app_db.admin_session() as session:
        assert await (await session.connection()).scalar(text("SELECT count(*) FROM usage_ledger")) == 0


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO budgets (tenant_id, daily_soft_usd, daily_hard_usd) VALUES (:t, 5, 4)",
        "INSERT INTO budgets (tenant_id, monthly_hard_usd) VALUES (:t, -1)",
        "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, expires_at) "
        "VALUES (:t, 'k', 'model', 'paid', 'wf', now())",
        "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, expires_at) "
        "VALUES (:t, 'k', 'image', 'reserved', 'wf', now())",
        "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, expires_at, cost_usd) "
        "VALUES (:t, 'k', 'model', 'settled', 'wf', now(), -1)",
    ],
)
async def test_the_database_refuses_impossible_rows(app_db: Database, two_tenants: tuple[str, str], sql: str) -> None:
    a, _b = two_tenants
    with pytest.raises((IntegrityError, DBAPIError)):
        async with app_db.tenant_session(a) as session:
            await (await session.connection()).execute(text(sql), {"t": a})


async def test_downgrade_and_upgrade_again(urls: Urls, fresh_database: str) -> None:
    await migrate(fresh_database, urls.app_password)
    db = Database(fresh_database, pool_size=1)
    exists = text("SELECT to_regclass('public.usage_ledger') IS NOT NULL AND to_regclass('public.budgets') IS NOT NULL")
    sweep = text("SELECT count(*) FROM pg_proc WHERE proname = 'usage_expire_reservations'")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: run_alembic(sync, "downgrade", "0007"))
            assert await conn.scalar(exists) is False
            assert await conn.scalar(sweep) == 0
            await conn.run_sync(lambda sync: run_alembic(sync, "upgrade", "head"))
            assert await conn.scalar(exists) is True
            assert await conn.scalar(sweep) == 1
    finally:
        await db.close()
    await migrate(fresh_database, urls.app_password)
