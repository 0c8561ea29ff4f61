"""Fixtures for the tenancy tests: a migrated database, the admin and app-role URLs, tenants to play with.

The database comes from the suite's `stack` fixture; where that is not defined (running this folder on its
own against an existing server), from `DATABASE_URL`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import Settings
from db.database import Database, to_async_url
from db.migrate import APP_ROLE, migrate
from tenancy.tenants import create_tenant

PEPPER = "tenancy-tests-pepper"


@dataclass(frozen=True)
class Urls:
    admin: str
    app: str
    app_password: str


def app_url_for(admin_url: str, password: str) -> str:
    return make_url(admin_url).set(username=APP_ROLE, password=password).render_as_string(hide_password=False)


async def autocommit(url: str, *statements: str) -> None:
    """Run statements outside a transaction, as CREATE/DROP DATABASE require."""
    engine = create_async_engine(to_async_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def admin_url(request: pytest.FixtureRequest) -> str:
    try:
        stack = request.getfixturevalue("stack")
    except pytest.FixtureLookupError:
        url = os.environ.get("DATABASE_URL")
        if not url:
            pytest.skip("needs the `stack` fixture or DATABASE_URL")
        return url
    return str(stack.database_url)


@pytest.fixture(scope="session")
def urls(admin_url: str) -> Urls:
    # The password the rest of the suite (gateway, workers) expects: migrating with another one would lock
    # them out of the shared database.
    password = Settings().app_db_password.get_secret_value()
    asyncio.run(migrate(admin_url, password))
    return Urls(admin=admin_url, app=app_url_for(admin_url, password), app_password=password)


@pytest.fixture
async def admin_db(urls: Urls) -> AsyncIterator[Database]:
    db = Database(urls.admin, pool_size=2)
    yield db
    await db.close()


@pytest.fixture
async def app_db(urls: Urls) -> AsyncIterator[Database]:
    db = Database(urls.app, pool_size=2)
    yield db
    await db.close()


@pytest.fixture
async def urls_app_single(urls: Urls) -> AsyncIterator[Database]:
    """An app-role database with a single pooled connection, so consecutive transactions share it."""
    db = Database(urls.app, pool_size=1)
    yield db
    await db.close()


@pytest.fixture
async def fresh_database(urls: Urls) -> AsyncIterator[str]:
    """The admin URL of a new, empty database beside the suite's; dropped afterwards."""
    name = f"aiaas_fresh_{uuid.uuid4().hex[:8]}"
    await autocommit(urls.admin, f"CREATE DATABASE {name}")
    try:
        yield make_url(urls.admin).set(database=name).render_as_string(hide_password=False)
    finally:
        await autocommit(urls.admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def unique_name(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


@pytest.fixture
async def two_tenants(urls: Urls) -> tuple[str, str]:
    a = await create_tenant(urls.admin, name=unique_name("Tenant A"), pepper=PEPPER)
    b = await create_tenant(urls.admin, name=unique_name("Tenant B"), pepper=PEPPER)
    return a.tenant_id, b.tenant_id
