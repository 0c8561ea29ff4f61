"""Data residency at rest: a tenant's home region decides which database holds its data.

The **control plane** is the database of `DATABASE_URL`: tenants, API keys, users, memberships, platform
roles, the credential lookups and the platform's own audit. The **data plane** is one database per region
(`AIAAS_REGION_DATABASE_URLS`, region -> URL or database name): everything a tenant's customers and agents
produce. `RegionalDatabase` keeps the `Database` session API, so every tenant-scoped query already written
goes to the right place unchanged:

- `tenant_session(tenant)` looks the tenant's home region up once in the control plane (a region is fixed at
  creation, so the answer is cached for the process's life) and opens the session on that region's pool;
- `control_session(tenant)` and `admin_session()` stay on the control plane;
- `region_session(region, tenant)` refuses in code (`CrossRegionSession`) when the tenant lives elsewhere.

The regional database refuses too (migration 0022): it binds a session through `residency_bind_tenant`,
which raises for a tenant that is not its region's, and its `tenants` table accepts only its region's rows,
which every tenant table references. With no regions configured, `open_database` returns a plain
`Database`: one database serves every region, exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from contracts.errors import ResidencyErrorType
from core.crypto.store import PLATFORM_TENANT
from core.settings import Settings
from db.database import Database, to_async_url

FOREIGN_TENANT_SQLSTATE = "RG001"
MAX_CACHED_TENANTS = 100_000
# Scopes of the platform itself, no tenant's data, so they live in the control plane: the platform's data key,
# and `platform`, under which DR drills announce themselves on the operations stream (`activities.dr_drill`).
PLATFORM_SCOPES = frozenset({PLATFORM_TENANT, "platform"})
_REGION_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_BIND_REGIONAL = text("SELECT residency_bind_tenant(:tid)")
_HOME_REGION = text("SELECT data_region FROM tenants WHERE id = :t")
_TENANT_ROW = text("SELECT id, name, slug, plan, status, data_region, created_at FROM tenants WHERE id = :t")
_REGISTER = text("SELECT residency_register_tenant(:id, :name, :slug, :plan, :status, :data_region, :created_at)")

REFUSALS = Counter(
    "aiaas_residency_refusals_total",
    "Sessions refused because a tenant's data does not live in the database asked for",
    ["reason"],
)


class ResidencyError(Exception):
    """A tenant's data was asked for where it does not live; the API answers 503 with `code`."""

    code = "region_unavailable"
    # Raised out of an activity, a non-retryable failure of this type (`core.failure_types`).
    failure_type = ResidencyErrorType.REGION_UNAVAILABLE

    def __init__(self, message: str, *, tenant_id: str, region: str | None) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.region = region


class RegionNotServed(ResidencyError):
    """The tenant's home region has no database in this deployment."""

    code = "region_unavailable"
    failure_type = ResidencyErrorType.REGION_UNAVAILABLE


class CrossRegionSession(ResidencyError):
    """Code asked for a tenant's session on another region's database; refused before connecting."""

    code = "region_mismatch"
    failure_type = ResidencyErrorType.REGION_MISMATCH


class TenantNotProvisioned(ResidencyError):
    """The control plane has no such tenant, or its region's database has not received its row."""

    code = "tenant_not_provisioned"
    failure_type = ResidencyErrorType.TENANT_NOT_PROVISIONED


def _foreign(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == FOREIGN_TENANT_SQLSTATE


class RegionalDatabase(Database):
    """The control-plane database plus one data-plane pool per region, behind the `Database` API."""

    def __init__(self, control_url: str, region_urls: Mapping[str, str], *, pool_size: int = 10) -> None:
        super().__init__(control_url, pool_size=pool_size)
        self.planes: dict[str, Database] = {
            region: Database(url, pool_size=pool_size, bind=_BIND_REGIONAL) for region, url in region_urls.items()
        }
        self._homes: dict[str, str] = {}

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(self.planes))

    async def home_region(self, tenant_id: str) -> str:
        home = self._homes.get(tenant_id)
        if home is not None:
            return home
        async with super().tenant_session(tenant_id) as session:
            home = (await (await session.connection()).execute(_HOME_REGION, {"t": tenant_id})).scalar()
        if home is None:
            REFUSALS.labels("unknown_tenant").inc()
            raise TenantNotProvisioned("no such tenant in the control plane", tenant_id=tenant_id, region=None)
        if len(self._homes) >= MAX_CACHED_TENANTS:
            self._homes.clear()
        self._homes[tenant_id] = str(home)
        return str(home)

    def serves(self, region: str) -> bool:
        return region in self.planes

    def _plane(self, region: str, tenant_id: str) -> Database:
        plane = self.planes.get(region)
        if plane is None:
            REFUSALS.labels("region_not_served").inc()
            raise RegionNotServed(
                f"region {region} has no database in this deployment", tenant_id=tenant_id, region=region
            )
        return plane

    @asynccontextmanager
    async def tenant_session(self, tenant_id: str) -> AsyncIterator[AsyncSession]:
        if tenant_id in PLATFORM_SCOPES:
            # The platform's own scopes are no tenant's data: they live in the control plane.
            async with super().tenant_session(tenant_id) as session:
                yield session
            return
        region = await self.home_region(tenant_id)
        async with self._regional(region, tenant_id) as session:
            yield session

    @asynccontextmanager
    async def region_session(self, region: str, tenant_id: str) -> AsyncIterator[AsyncSession]:
        home = await self.home_region(tenant_id)
        if home != region:
            REFUSALS.labels("cross_region").inc()
            raise CrossRegionSession(f"tenant lives in {home}, not {region}", tenant_id=tenant_id, region=region)
        async with self._regional(region, tenant_id) as session:
            yield session

    @asynccontextmanager
    async def _regional(self, region: str, tenant_id: str) -> AsyncIterator[AsyncSession]:
        plane = self._plane(region, tenant_id)
        try:
            async with plane.tenant_session(tenant_id) as session:
                yield session
        except DBAPIError as exc:
            if not _foreign(exc):
                raise
            REFUSALS.labels("database_refused").inc()
            raise TenantNotProvisioned(
                f"the {region} database does not hold this tenant", tenant_id=tenant_id, region=region
            ) from exc

    @asynccontextmanager
    async def control_session(self, tenant_id: str) -> AsyncIterator[AsyncSession]:
        async with super().tenant_session(tenant_id) as session:
            yield session

    async def register_tenant(self, tenant_id: str) -> None:
        """Copy the tenant's control-plane row to its region's database (after creation or a change)."""
        async with super().tenant_session(tenant_id) as session:
            row = (await (await session.connection()).execute(_TENANT_ROW, {"t": tenant_id})).mappings().first()
        if row is None:
            raise TenantNotProvisioned("no such tenant in the control plane", tenant_id=tenant_id, region=None)
        region = str(row["data_region"])
        async with self._plane(region, tenant_id).admin_session() as session:
            await (await session.connection()).execute(_REGISTER, dict(row))
        self._homes[tenant_id] = region

    async def ping(self) -> None:
        await super().ping()
        for plane in self.planes.values():
            await plane.ping()

    async def close(self) -> None:
        for plane in self.planes.values():
            await plane.close()
        await super().close()


def _with_database(base_url: str, value: str) -> str:
    # A bare name is a database on the control plane's server: the embedded stack's one-server layout.
    return value if "://" in value else make_url(base_url).set(database=value).render_as_string(hide_password=False)


def region_admin_urls(settings: Settings) -> dict[str, str]:
    """region -> owner-role URL of its data-plane database; empty in single-database mode."""
    if not settings.region_database_urls:
        return {}
    control = settings.database_url
    if not control:
        raise RuntimeError("DATABASE_URL (the control plane) is required with AIAAS_REGION_DATABASE_URLS")
    urls: dict[str, str] = {}
    for region, value in settings.region_database_urls.items():
        if not _REGION_NAME.fullmatch(region):
            raise ValueError(f"invalid region name {region!r} in AIAAS_REGION_DATABASE_URLS")
        urls[region] = _with_database(control, value)
    databases = [_identity(url) for url in urls.values()]
    if _identity(control) in databases or len(set(databases)) != len(databases):
        # The control plane holds every region's tenants, which a regional database refuses.
        raise ValueError("each region needs its own database, distinct from the control plane's")
    return urls


def _identity(url: str) -> tuple[Any, ...]:
    parsed = make_url(to_async_url(url))
    return (parsed.host, parsed.port, parsed.database)


def region_app_urls(settings: Settings) -> dict[str, str]:
    """region -> app-role URL, as `Settings.resolved_app_database_url` derives the control plane's."""
    password = settings.app_db_password.get_secret_value()
    return {
        region: make_url(url).set(username="aiaas_app", password=password).render_as_string(hide_password=False)
        for region, url in region_admin_urls(settings).items()
    }


def open_database(settings: Settings, *, pool_size: int = 10) -> Database:
    """The app-role database for this deployment: regional when regions are configured, else the one."""
    regions = region_app_urls(settings)
    if not regions:
        return Database(settings.resolved_app_database_url(), pool_size=pool_size)
    return RegionalDatabase(settings.resolved_app_database_url(), regions, pool_size=pool_size)
