"""The schema as deployed: row-level security everywhere it belongs, a powerless app role, idempotent
migrations, and models that agree with the migrations."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from commerce.tables import COMMERCE_TABLES
from db.agent_tables import AGENT_TABLES, conversation_customer_fk
from db.database import Database
from db.migrate import APP_ROLE, migrate
from db.tables import TENANT_TABLES
from db.tool_tables import TOOL_TABLES
from db.usage_tables import USAGE_TABLES

from .conftest import Urls

_TABLES_WITH_TENANT = text(
    """
    SELECT DISTINCT c.table_name FROM information_schema.columns c
    JOIN information_schema.tables t USING (table_schema, table_name)
    WHERE c.column_name = 'tenant_id' AND c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
    ORDER BY 1
    """
)


async def test_every_tenant_table_has_forced_rls_and_a_tenant_policy(admin_db: Database) -> None:
    async with admin_db.engine.connect() as session:
        tables = [*(await session.execute(_TABLES_WITH_TENANT)).scalars(), "tenants"]
        assert {"api_keys", "conversations", "messages"} <= set(tables)
        for table in tables:
            row = (
                await session.execute(
                    text(
                        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                        "WHERE oid = ('public.' || quote_ident(:t))::regclass"
                    ),
                    {"t": table},
                )
            ).one()
            assert row.relrowsecurity, f"{table}: row-level security not enabled"
            assert row.relforcerowsecurity, f"{table}: row-level security not forced"
            policies = (
                await session.execute(
                    text("SELECT qual, with_check FROM pg_policies WHERE schemaname = 'public' AND tablename = :t"),
                    {"t": table},
                )
            ).all()
            assert any(
                "current_setting('app.tenant_id'" in (p.qual or "")
                and "current_setting('app.tenant_id'" in (p.with_check or "")
                for p in policies
            ), f"{table}: no policy on app.tenant_id"


async def test_app_role_is_powerless(admin_db: Database) -> None:
    async with admin_db.engine.connect() as session:
        role = (
            await session.execute(
                text(
                    "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolcanlogin "
                    "FROM pg_roles WHERE rolname = :r"
                ),
                {"r": APP_ROLE},
            )
        ).one()
        assert role.rolcanlogin
        assert not (role.rolsuper or role.rolbypassrls or role.rolcreatedb or role.rolcreaterole)
        owned = await session.scalar(
            text("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = :r)"),
            {"r": APP_ROLE},
        )
        assert owned == 0
        # Membership in a table owner's role would make the app role an owner in effect.
        owner_member = await session.scalar(
            text(
                "SELECT bool_or(pg_has_role(:r, c.relowner, 'MEMBER')) FROM pg_class c "
                "WHERE c.relname IN ('tenants', 'api_keys', 'conversations', 'messages') "
                "AND c.relnamespace = 'public'::regnamespace"
            ),
            {"r": APP_ROLE},
        )
        assert owner_member is False


async def test_auth_functions_are_definer_with_fixed_search_path(admin_db: Database) -> None:
    async with admin_db.engine.connect() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT p.proname, p.prosecdef, p.proconfig, "
                    "has_function_privilege(:r, p.oid, 'EXECUTE') AS app_may, "
                    "has_function_privilege('public', p.oid, 'EXECUTE') AS public_may "
                    "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
                    "AND p.proname IN ('auth_lookup_api_key', 'auth_touch_api_key')"
                ),
                {"r": APP_ROLE},
            )
        ).all()
    assert {r.proname for r in rows} == {"auth_lookup_api_key", "auth_touch_api_key"}
    for row in rows:
        assert row.prosecdef
        assert any(setting.startswith("search_path=") for setting in row.proconfig)
        assert row.app_may
        assert not row.public_may


async def _snapshot(db: Database) -> dict[str, Any]:
    queries = {
        "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
        "policies": "SELECT tablename, policyname, roles::text, qual, with_check FROM pg_policies ORDER BY 1, 2",
        "grants": "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
        "WHERE grantee = :role ORDER BY 1, 2",
        "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
        "functions": "SELECT proname, prosrc, proacl::text FROM pg_proc "
        "WHERE pronamespace = 'public'::regnamespace ORDER BY 1, 2",
        "version": "SELECT version_num FROM alembic_version",
        "role": "SELECT rolpassword FROM pg_authid WHERE rolname = :role",
    }
    async with db.engine.connect() as session:
        return {name: (await session.execute(text(sql), {"role": APP_ROLE})).all() for name, sql in queries.items()}


def _head() -> str:
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def test_migrate_again_changes_nothing(urls: Urls, admin_db: Database) -> None:
    before = await _snapshot(admin_db)
    await migrate(urls.admin, urls.app_password)
    after = await _snapshot(admin_db)
    assert before == after
    assert after["version"] == [(_head(),)]


async def test_concurrent_first_migrations_are_safe(urls: Urls, fresh_database: str) -> None:
    await asyncio.gather(*(migrate(fresh_database, urls.app_password) for _ in range(3)))
    db = Database(fresh_database, pool_size=1)
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).all() == [(_head(),)]
            assert await conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'vector'")) == 1
    finally:
        await db.close()


def _diff(connection: Connection) -> list[Any]:
    # Only tenancy's tables: other packages register theirs on the shared SQLModel metadata.
    metadata = MetaData()
    models = (*TENANT_TABLES, *COMMERCE_TABLES, *AGENT_TABLES, *USAGE_TABLES, *TOOL_TABLES)
    for model in models:
        model.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    metadata.tables["conversations"].append_constraint(conversation_customer_fk())
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    names = {model.__tablename__ for model in models}
    return [
        change
        for change in compare_metadata(context, metadata)
        if not (isinstance(change, tuple) and change[0] == "remove_table" and change[1].name not in names)
        and not (isinstance(change, tuple) and change[0] == "remove_index" and change[1].table.name not in names)
    ]


async def test_models_match_migrations(admin_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []
