"""`aiaas migrate` for every database of a deployment: the control plane, then each region's data plane.

A region given as a bare database name lives on the control plane's server (the embedded stack's layout):
it is created when missing. A region given as a full URL names a database the operator provisioned. Each
data plane is migrated with its region claimed (`db.migrate`), after which it refuses other regions' tenants.
"""

from __future__ import annotations

from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import Settings
from db.database import to_async_url
from db.migrate import migrate
from db.regions import region_admin_urls


async def create_missing_databases(control_url: str, names: list[str]) -> list[str]:
    """Create the databases among `names` that the control plane's server lacks; returns those created."""
    created: list[str] = []
    engine = create_async_engine(to_async_url(control_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for name in names:
                if await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                    continue
                quoted = conn.dialect.identifier_preparer.quote(name)
                await conn.execute(text(f"CREATE DATABASE {quoted}"))
                created.append(name)
    finally:
        await engine.dispose()
    return created


async def migrate_all(settings: Settings) -> dict[str, str | None]:
    """Migrate the control plane and every configured region; returns database -> region claimed."""
    control = settings.database_url
    if not control:
        raise RuntimeError("DATABASE_URL is not set")
    password = settings.app_db_password.get_secret_value()
    regions = region_admin_urls(settings)
    bare = [value for value in settings.region_database_urls.values() if "://" not in value]
    if bare:
        await create_missing_databases(control, bare)
    await migrate(control, password)
    done: dict[str, str | None] = {str(make_url(control).database): None}
    for region, url in sorted(regions.items()):
        await migrate(url, password, region=region)
        done[str(make_url(url).database)] = region
    return done
