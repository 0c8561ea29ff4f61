"""Two regions on the suite's embedded Postgres: `eu-west` and `us-east`, each a database of its own next to
the control plane's, created and migrated by `db.migrate_regions` exactly as `aiaas up` and `aiaas migrate`
do. Dropped at the end of the session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import Settings
from db.database import Database, to_async_url
from db.migrate_regions import migrate_all
from db.regions import RegionalDatabase, open_database, region_admin_urls
from tenancy.tenant_admin import create_tenant

REGIONS = ("eu-west", "us-east")


@dataclass(frozen=True)
class Regional:
    settings: Settings
    # region -> owner-role URL of its data-plane database
    admin_urls: dict[str, str]


async def _drop(control_url: str, names: list[str]) -> None:
    engine = create_async_engine(to_async_url(control_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for name in names:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def regional(migrated: Settings) -> Iterator[Regional]:
    suffix = uuid.uuid4().hex[:6]
    names = {region: f"aiaas_{region.replace('-', '_')}_{suffix}" for region in REGIONS}
    settings = migrated.model_copy(update={"region_database_urls": names})
    asyncio.run(migrate_all(settings))
    try:
        yield Regional(settings=settings, admin_urls=region_admin_urls(settings))
    finally:
        asyncio.run(_drop(migrated.database_url or "", list(names.values())))


@pytest.fixture
async def rdb(regional: Regional) -> AsyncIterator[RegionalDatabase]:
    database = open_database(regional.settings, pool_size=2)
    assert isinstance(database, RegionalDatabase)
    yield database
    await database.close()


async def new_tenant(db: Database, settings: Settings, region: str, name: str = "Residency") -> tuple[str, str]:
    created = await create_tenant(
        db,
        name=f"{name} {region} {uuid.uuid4().hex[:6]}",
        plan="pro",
        data_region=region,
        pepper=settings.api_key_pepper.get_secret_value(),
        actor="test",
    )
    return created.record.id, created.api_key


async def rows_by_table(admin_url: str, tenant_id: str) -> dict[str, int]:
    """Every row of `tenant_id` in every table of the database that has a tenant column (the owner sees all)."""
    engine = create_async_engine(to_async_url(admin_url), poolclass=pool.NullPool)
    counts: dict[str, int] = {}
    try:
        async with engine.connect() as conn:
            tables = (
                await conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                        "AND column_name = 'tenant_id' ORDER BY table_name"
                    )
                )
            ).scalars()
            for table in list(tables):
                found = await conn.scalar(
                    text(f'SELECT count(*) FROM public."{table}" WHERE tenant_id = :t'),  # noqa: S608
                    {"t": tenant_id},
                )
                if found:
                    counts[table] = int(found)
            if await conn.scalar(text("SELECT count(*) FROM tenants WHERE id = :t"), {"t": tenant_id}):
                counts["tenants"] = 1
    finally:
        await engine.dispose()
    return counts
