"""Migrating: running it again changes nothing, replicas may run it at once, and every step can be undone.

The round trip walks a fresh database down one revision at a time to an empty schema and back up, and then
expects the very catalog it started from: a downgrade that forgets a policy, a grant or an index shows up as
a difference here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import text

from db.database import Database
from db.migrate import APP_ROLE, alembic_config, migrate
from tests.db import catalog
from tests.db.migrations import run_alembic
from tests.tenancy.conftest import Urls

_SNAPSHOT = {
    "columns": "SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default "
    "FROM information_schema.columns WHERE table_schema IN ('public', 'audit') ORDER BY 1, 2, 3",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace IN ('public'::regnamespace, to_regnamespace('audit')) ORDER BY 1, 2",
    "policies": "SELECT schemaname, tablename, policyname, roles::text, cmd, qual, with_check FROM pg_policies "
    "ORDER BY 1, 2, 3",
    "grants": "SELECT table_schema, table_name, privilege_type FROM information_schema.role_table_grants "
    "WHERE grantee = :role ORDER BY 1, 2, 3",
    "indexes": "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname IN ('public', 'audit') "
    "ORDER BY 1, 2",
    "functions": "SELECT pronamespace::regnamespace::text, proname, prosrc, proacl::text FROM pg_proc "
    "WHERE pronamespace IN ('public'::regnamespace, to_regnamespace('audit')) ORDER BY 1, 2, 3",
    "triggers": "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
    "security": "SELECT oid::regclass::text, relrowsecurity, relforcerowsecurity FROM pg_class "
    "WHERE relnamespace IN ('public'::regnamespace, to_regnamespace('audit')) AND relkind = 'r' ORDER BY 1",
    "version": "SELECT version_num FROM alembic_version",
}


async def _snapshot(db: Database) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        return {name: (await conn.execute(text(sql), {"role": APP_ROLE})).all() for name, sql in _SNAPSHOT.items()}


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _revisions_from_head() -> list[tuple[str, str | None]]:
    walked = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    return [(script.revision, script.down_revision) for script in walked]  # type: ignore[misc]


async def test_migrating_again_changes_nothing(urls: Urls, admin_db: Database) -> None:
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


async def test_every_revision_steps_down_and_up_to_the_same_schema(urls: Urls, fresh_database: str) -> None:
    await migrate(fresh_database, urls.app_password)
    db = Database(fresh_database, pool_size=1)
    try:
        before = await _snapshot(db)
        async with db.engine.begin() as conn:
            for revision, down_revision in _revisions_from_head():
                await conn.run_sync(lambda sync: run_alembic(sync, "downgrade", "-1"))
                version = await conn.scalar(text("SELECT max(version_num) FROM alembic_version"))
                assert version == down_revision, f"downgrading {revision}"
                # What a revision leaves behind on the way down is still under forced row-level security.
                for table in await catalog.tenant_tables(conn):
                    assert table.rls and table.forced, f"{table} after downgrading {revision}"
            left = await conn.scalar(
                text("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")
            )
            assert left == 1, "only alembic_version should remain at the base"
            await conn.run_sync(lambda sync: run_alembic(sync, "upgrade", "head"))
        # Grants are the migrate step's, not the revisions': it runs again as it would at a replica's start.
        await migrate(fresh_database, urls.app_password)
        assert await _snapshot(db) == before
    finally:
        await db.close()
