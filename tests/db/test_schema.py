"""Tenant isolation as the migrated database enforces it, for every table that has a `tenant_id` column.

The tables come from the live catalog, not from a list here, so a table a migration adds is checked the
moment it exists; each table is its own subtest, so a failure names it. For each one: row-level security is
enabled and forced, every policy that applies to the app role binds rows to `app.tenant_id`, the app role
cannot step around either, and a row written for tenant A stays invisible and untouchable for tenant B and
for a connection bound to no tenant.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.database import Database, run_sql
from db.migrate import APP_ROLE
from tests.db import catalog, rows

_SET_TENANT = text("SELECT set_config('app.tenant_id', :tid, true)")
_TENANT_SETTING = "current_setting('app.tenant_id'"
# Tables every version of the schema has had: a catalog query that misses them is looking in the wrong place.
_ANCHORS = {"public.api_keys", "public.conversations", "public.messages", "audit.events"}


@pytest.fixture
async def tables(admin_db: Database) -> list[catalog.Table]:
    async with admin_db.engine.connect() as conn:
        found = await catalog.tenant_tables(conn)
    assert found, "the catalog lists no table with a tenant_id column"
    return found


async def test_the_catalog_finds_the_tenant_tables(tables: list[catalog.Table]) -> None:
    assert {str(table) for table in tables} >= _ANCHORS


async def test_row_level_security_is_enabled_and_forced(tables: list[catalog.Table], subtests: pytest.Subtests) -> None:
    for table in tables:
        with subtests.test(table=str(table)):
            assert table.rls, f"{table}: row-level security is not enabled"
            # Without FORCE the owner, which runs migrations and the definer functions, would see every tenant.
            assert table.forced, f"{table}: row-level security is not forced"


async def test_every_policy_the_app_role_meets_binds_rows_to_app_tenant_id(
    admin_db: Database,
    tables: list[catalog.Table],
    subtests: pytest.Subtests,
) -> None:
    async with admin_db.engine.connect() as conn:
        for table in tables:
            with subtests.test(table=str(table)):
                applying = [
                    policy for policy in await catalog.policies(conn, table) if {"public", APP_ROLE} & set(policy.roles)
                ]
                assert applying, f"{table}: no policy applies to {APP_ROLE}, so it sees nothing or, unforced, all"
                # Permissive policies are OR-ed: a single one that ignores the tenant opens the whole table.
                for policy in applying:
                    expressions = [e for e in (policy.qual, policy.with_check) if e is not None]
                    assert expressions, f"{table}.{policy.name}: no expression at all"
                    for expression in expressions:
                        assert _TENANT_SETTING in expression, f"{table}.{policy.name}: {expression}"
                        assert catalog.TENANT_COLUMN in expression, f"{table}.{policy.name}: {expression}"


async def test_the_app_role_can_not_step_around_row_level_security(
    admin_db: Database,
    tables: list[catalog.Table],
    subtests: pytest.Subtests,
) -> None:
    async with admin_db.engine.connect() as conn:
        role = (
            await conn.execute(
                text("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}
            )
        ).one()
        assert role.rolcanlogin and not role.rolsuper and not role.rolbypassrls
        for table in tables:
            with subtests.test(table=str(table)):
                assert table.owner != APP_ROLE, f"{table} is owned by {APP_ROLE}"
                # Membership in the owner's role would make the app role an owner in effect.
                member = await conn.scalar(
                    text("SELECT pg_has_role(:r, :owner, 'MEMBER')"), {"r": APP_ROLE, "owner": table.owner}
                )
                assert member is False, f"{APP_ROLE} is a member of {table.owner}, the owner of {table}"


async def _may(db: Database, table: catalog.Table, privilege: str) -> bool:
    async with db.engine.connect() as conn:
        query = text("SELECT has_table_privilege(:r, :t, :p)")
        return bool(await conn.scalar(query, {"r": APP_ROLE, "t": table.qualified, "p": privilege}))


async def _count(db: Database, tenant: str | None, sql: str, **params: str) -> int:
    if tenant is None:
        async with db.engine.connect() as conn:
            return int(await conn.scalar(text(sql), params) or 0)
    async with db.tenant_session(tenant) as session:
        return int((await run_sql(session, sql, params)).scalar_one())


async def _assert_row_stays_with_its_tenant(
    admin_db: Database, app_db: Database, table: catalog.Table, a: str, b: str
) -> None:
    async with admin_db.engine.begin() as admin:
        await admin.execute(_SET_TENANT, {"tid": a})
        row = await rows.make_row(admin, table.qualified, a)
    insert, params = row.insert()
    may_insert = await _may(admin_db, table, "INSERT")
    async with (app_db if may_insert else admin_db).tenant_session(a) as session:
        await run_sql(session, insert, params)

    q = table.qualified
    of_a = f"SELECT count(*) FROM {q} WHERE tenant_id = :a"  # noqa: S608
    assert await _count(app_db, a, of_a, a=a) >= 1, f"{table}: tenant A does not see its own row"
    assert await _count(app_db, b, of_a, a=a) == 0, f"{table}: tenant B sees tenant A's row"
    not_b = f"SELECT count(*) FROM {q} WHERE tenant_id IS DISTINCT FROM :b"  # noqa: S608
    assert await _count(app_db, b, not_b, b=b) == 0, f"{table}: tenant B sees rows of other tenants"
    assert await _count(app_db, None, f"SELECT count(*) FROM {q}") == 0, f"{table}: visible without a tenant"  # noqa: S608

    if may_insert:
        with pytest.raises(DBAPIError, match="row-level security"):
            async with app_db.tenant_session(b) as session:
                await run_sql(session, insert, params)
    if await _may(admin_db, table, "UPDATE"):
        async with app_db.tenant_session(b) as session:
            touched = await run_sql(session, f"UPDATE {q} SET tenant_id = tenant_id WHERE tenant_id = :a", {"a": a})  # noqa: S608
            assert touched.rowcount == 0, f"{table}: tenant B updated tenant A's row"
        with pytest.raises(DBAPIError, match="row-level security"):
            async with app_db.tenant_session(a) as session:
                await run_sql(session, f"UPDATE {q} SET tenant_id = :b WHERE tenant_id = :a", {"a": a, "b": b})  # noqa: S608
    if await _may(admin_db, table, "DELETE"):
        async with app_db.tenant_session(b) as session:
            gone = await run_sql(session, f"DELETE FROM {q} WHERE tenant_id = :a", {"a": a})  # noqa: S608
            assert gone.rowcount == 0, f"{table}: tenant B deleted tenant A's row"


async def test_a_row_stays_with_its_tenant(
    admin_db: Database,
    app_db: Database,
    two_tenants: tuple[str, str],
    tables: list[catalog.Table],
    subtests: pytest.Subtests,
) -> None:
    a, b = two_tenants
    for table in tables:
        with subtests.test(table=str(table)):
            await _assert_row_stays_with_its_tenant(admin_db, app_db, table, a, b)


async def test_the_tenants_table_shows_a_tenant_only_itself(
    admin_db: Database, app_db: Database, two_tenants: tuple[str, str]
) -> None:
    async with admin_db.engine.connect() as conn:
        forced = await conn.scalar(
            text("SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'public.tenants'::regclass")
        )
    assert forced is True
    a, b = two_tenants
    async with app_db.tenant_session(a) as session:
        assert list((await run_sql(session, "SELECT id FROM tenants")).scalars()) == [a]
    assert await _count(app_db, None, "SELECT count(*) FROM tenants") == 0
    assert await _count(app_db, b, "SELECT count(*) FROM tenants WHERE id = :a", a=a) == 0
