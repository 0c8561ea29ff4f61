"""Two regions on the suite's embedded Postgres: `eu-west` and `us-east`, each a database of its own next to
the control plane's, created and migrated by `db.migrate_regions` exactly as `aiaas up` and `aiaas migrate`
do. Dropped at the end of the session."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import Settings
from db.database import Database, to_async_url
from db.migrate_regions import migrate_all
from db.regions import RegionalDatabase, open_database, region_admin_urls
from tenancy.tenant_admin import create_tenant
from tests.e2e.platform import Platform, pick_port, platform_env

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


@pytest.fixture(scope="session")
def regional_platform(regional: Regional, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("regional-platform")
    settings = regional.settings.model_copy(
        update={"task_queue": f"residency-{uuid.uuid4().hex[:8]}", "data_dir": data_dir}
    )
    env = platform_env(settings, data_dir)
    env["AIAAS_REGION_DATABASE_URLS"] = json.dumps(settings.region_database_urls)
    running = Platform(settings=settings, data_dir=data_dir, env=env, gateway_port=pick_port())
    running.start()
    asyncio.run(_wait_for_pollers(settings))
    try:
        yield running
    finally:
        running.stop()


async def _wait_for_pollers(settings: Settings, timeout: float = 240.0) -> None:
    """Until the worker polls its queue: on a loaded machine its start outlasts a message's confirmation wait."""
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    from db.codec import connect

    client = await connect(settings)
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace, task_queue=TaskQueue(name=settings.task_queue)
    )
    deadline = asyncio.get_running_loop().time() + timeout
    while not (await client.workflow_service.describe_task_queue(request)).pollers:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no worker polled {settings.task_queue} within {timeout} s")
        await asyncio.sleep(0.5)
