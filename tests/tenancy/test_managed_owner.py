"""Migrations and authentication when the admin role is not a superuser, as on managed Postgres.

There the table owner is bound by FORCE ROW LEVEL SECURITY like everyone else, which the security-definer
lookup and tenant creation must both cope with. The test builds such a database next to the suite's one,
with the extension pre-created (as a managed provider's console would) and the owner allowed to manage the
cluster-wide app role.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.database import Database
from db.migrate import APP_ROLE, migrate
from tenancy.auth import ApiKeyAuthenticator
from tenancy.tenants import create_tenant

from .conftest import PEPPER, Urls, app_url_for, autocommit


@pytest.fixture
async def owner_url(urls: Urls) -> AsyncIterator[str]:
    name = f"aiaas_owner_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    admin = make_url(urls.admin)
    await autocommit(
        urls.admin,
        f"CREATE ROLE {name} LOGIN PASSWORD '{password}' NOSUPERUSER NOBYPASSRLS CREATEROLE",
        f"CREATE DATABASE {name} OWNER {name}",
        f"GRANT {APP_ROLE} TO {name} WITH ADMIN OPTION",
    )
    try:
        await autocommit(admin.set(database=name).render_as_string(hide_password=False), "CREATE EXTENSION vector")
        yield admin.set(username=name, password=password, database=name).render_as_string(hide_password=False)
    finally:
        await autocommit(
            urls.admin,
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            f"REVOKE {APP_ROLE} FROM {name}",
            f"DROP ROLE IF EXISTS {name}",
        )


async def test_a_non_superuser_owner_migrates_creates_and_authenticates(urls: Urls, owner_url: str) -> None:
    await migrate(owner_url, urls.app_password)
    await migrate(owner_url, urls.app_password)
    created = await create_tenant(owner_url, name="Managed Co", pepper=PEPPER)

    owner_db = Database(owner_url, pool_size=1)
    app_db = Database(app_url_for(owner_url, urls.app_password), pool_size=1)
    authenticator = ApiKeyAuthenticator(app_db, PEPPER, cache_seconds=0)
    try:
        principal = await authenticator.authenticate(created.api_key)
        assert principal is not None and principal.tenant_id == created.tenant_id
        await authenticator.close()
        async with owner_db.engine.connect() as conn:
            assert not await conn.scalar(text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = user"))
            # The definer policies open the keys to the owner only inside the auth functions.
            assert await conn.scalar(text("SELECT count(*) FROM api_keys")) == 0
            used = await conn.scalar(
                text("SELECT last_used_at FROM auth_lookup_api_key(:p) JOIN api_keys k ON k.id = key_id"),
                {"p": created.api_key[3:15]},
            )
            assert used is None  # the join outside the function still sees no rows
        async with owner_db.tenant_session(created.tenant_id) as session:
            touched = await (await session.connection()).scalar(
                text("SELECT last_used_at FROM api_keys WHERE id = :k"), {"k": principal.key_id}
            )
            assert touched is not None
    finally:
        await authenticator.close()
        await app_db.close()
        await owner_db.close()
