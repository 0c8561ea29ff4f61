"""Migration 0006: the tool runtime's tables under forced row-level security, and a clean downgrade."""

# Fixtures come in by import (parameters then shadow the imported names).
# ruff: noqa: F811

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.database import Database, run_sql
from db.migrate import migrate
from tests.db.migrations import run_alembic
from tests.tenancy.conftest import Urls, admin_url, app_db, fresh_database, two_tenants, urls  # noqa: F401

_TABLES = ("tool_calls", "tenant_tools")
_INSERT_CALL = (
    "INSERT INTO tool_calls (tenant_id, message_id, call_id, conversation_id, tool, status) "
    "VALUES (:tid, 'm', 'c', 'conv', 'orders.lookup', '{status}')"
)


async def test_rows_of_one_tenant_are_invisible_and_unwritable_for_another(
    app_db: Database, two_tenants: tuple[str, str]
) -> None:
    a, b = two_tenants
    async with app_db.tenant_session(a) as session:
        await run_sql(
            session,
            "INSERT INTO tenant_tools (tenant_id, tool, enabled) VALUES (:tid, 'orders.cancel', false)",
            {"tid": a},
        )
    async with app_db.tenant_session(b) as session:
        assert (await run_sql(session, "SELECT count(*) FROM tenant_tools")).scalar_one() == 0
    with pytest.raises(DBAPIError, match="row-level security"):
        async with app_db.tenant_session(b) as session:
            await run_sql(session, _INSERT_CALL.format(status="ok"), {"tid": a})
    with pytest.raises(DBAPIError, match="ck_tool_calls_status"):
        async with app_db.tenant_session(a) as session:
            await run_sql(session, _INSERT_CALL.format(status="exploded"), {"tid": a})


async def test_downgrade_and_upgrade_again(urls: Urls, fresh_database: str) -> None:
    await migrate(fresh_database, urls.app_password)
    exists = text("SELECT count(*) FROM pg_class WHERE relname = ANY(:names) AND relkind = 'r'")
    forced = text("SELECT bool_and(relforcerowsecurity) FROM pg_class WHERE relname = ANY(:names) AND relkind = 'r'")
    db = Database(fresh_database, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: run_alembic(sync, "downgrade", "0005"))
            assert await conn.scalar(exists, {"names": list(_TABLES)}) == 0
            await conn.run_sync(lambda sync: run_alembic(sync, "upgrade", "head"))
            assert await conn.scalar(exists, {"names": list(_TABLES)}) == 2
            assert await conn.scalar(forced, {"names": list(_TABLES)}) is True
    finally:
        await db.close()
    await migrate(fresh_database, urls.app_password)
