"""Tenant creation and API key authentication against the real database, as the app role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from db.database import Database
from tenancy.auth import ApiKeyAuthenticator
from tenancy.keys import parse_api_key
from tenancy.principal import Principal
from tenancy.tenants import CreatedTenant, add_api_key, create_tenant

from .conftest import PEPPER, Urls, unique_name


@pytest.fixture
async def tenant(urls: Urls) -> CreatedTenant:
    return await create_tenant(urls.admin, name=unique_name("Acme"), plan="pro", pepper=PEPPER)


@pytest.fixture
async def auth(app_db: Database) -> AsyncIterator[ApiKeyAuthenticator]:
    authenticator = ApiKeyAuthenticator(app_db, PEPPER, cache_seconds=0)
    yield authenticator
    await authenticator.close()


async def _admin(db: Database, sql: str, **params: object) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def test_create_tenant_stores_only_the_hash(tenant: CreatedTenant, admin_db: Database) -> None:
    parsed = parse_api_key(tenant.api_key)
    assert parsed is not None
    prefix, secret = parsed
    async with admin_db.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT k.prefix, t.plan FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.id = :t"),
                {"t": tenant.tenant_id},
            )
        ).one()
        assert row.prefix == prefix and row.plan == "pro"
        leaks = await conn.scalar(
            text(
                "SELECT count(*) FROM api_keys k WHERE strpos(row_to_json(k)::text, :secret) > 0 "
                "OR strpos(row_to_json(k)::text, :full) > 0"
            ),
            {"secret": secret, "full": tenant.api_key},
        )
        assert leaks == 0


async def test_same_name_gets_distinct_slugs(urls: Urls, admin_db: Database) -> None:
    name = unique_name("Same Name")
    first = await create_tenant(urls.admin, name=name, pepper=PEPPER)
    second = await create_tenant(urls.admin, name=name, pepper=PEPPER)
    async with admin_db.engine.connect() as conn:
        slugs = (
            await conn.execute(
                text("SELECT slug FROM tenants WHERE id IN (:a, :b) ORDER BY slug"),
                {"a": first.tenant_id, "b": second.tenant_id},
            )
        ).scalars()
        base = name.lower().replace(" ", "-")
        assert list(slugs) == [base, f"{base}-2"]


@pytest.mark.parametrize(
    ("name", "plan"),
    [("", "free"), ("   ", "free"), ("x" * 201, "free"), ("line\nbreak", "free"), ("Fine", "gold")],
)
async def test_create_tenant_validates_input(urls: Urls, name: str, plan: str) -> None:
    with pytest.raises(ValueError):
        await create_tenant(urls.admin, name=name, plan=plan, pepper=PEPPER)


async def test_accepts_the_key(tenant: CreatedTenant, auth: ApiKeyAuthenticator) -> None:
    principal = await auth.authenticate(tenant.api_key)
    assert isinstance(principal, Principal)
    assert principal.tenant_id == tenant.tenant_id
    assert principal.roles == ("owner",)
    assert principal.scopes == ()


async def test_rejects_wrong_secret_and_malformed_tokens(tenant: CreatedTenant, auth: ApiKeyAuthenticator) -> None:
    prefix, secret = parse_api_key(tenant.api_key) or ("", "")
    # One character changed: the first, to a letter it is not.
    flipped = ("A" if secret[0] != "A" else "B") + secret[1:]
    assert flipped != secret
    assert await auth.authenticate(f"ak_{prefix}_{flipped}") is None
    assert await auth.authenticate(f"ak_{prefix}_{secret}x") is None
    assert await auth.authenticate(f"ak_zzzzzzzzzzzz_{secret}") is None
    for token in ("", "Bearer " + tenant.api_key, tenant.api_key[:-10], "ak_" + "x" * 500):
        assert await auth.authenticate(token) is None
    assert await auth.authenticate(tenant.api_key) is not None


async def test_rejects_a_revoked_key(tenant: CreatedTenant, auth: ApiKeyAuthenticator, admin_db: Database) -> None:
    await _admin(admin_db, "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = :t", t=tenant.tenant_id)
    assert await auth.authenticate(tenant.api_key) is None


async def test_rejects_a_suspended_tenant(tenant: CreatedTenant, auth: ApiKeyAuthenticator, admin_db: Database) -> None:
    assert await auth.authenticate(tenant.api_key) is not None
    await _admin(admin_db, "UPDATE tenants SET status = 'suspended' WHERE id = :t", t=tenant.tenant_id)
    assert await auth.authenticate(tenant.api_key) is None


async def test_rejects_an_expired_key_and_carries_scopes(
    tenant: CreatedTenant, auth: ApiKeyAuthenticator, app_db: Database
) -> None:
    async with app_db.tenant_session(tenant.tenant_id) as session:
        _, expired = await add_api_key(
            session,
            tenant_id=tenant.tenant_id,
            name="old",
            pepper=PEPPER,
            expires_at=datetime.now(UTC) - timedelta(seconds=1),
        )
        _, scoped = await add_api_key(
            session,
            tenant_id=tenant.tenant_id,
            name="ci",
            pepper=PEPPER,
            scopes=["conversations:read"],
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    assert await auth.authenticate(expired) is None
    principal = await auth.authenticate(scoped)
    assert principal is not None and principal.scopes == ("conversations:read",)


async def test_cache_serves_the_hot_path(tenant: CreatedTenant, app_db: Database, admin_db: Database) -> None:
    cached = ApiKeyAuthenticator(app_db, PEPPER, cache_seconds=60)
    try:
        first = await cached.authenticate(tenant.api_key)
        assert first is not None
        # Revoked in the database, but the cached answer stands until it expires: no round trip.
        await _admin(admin_db, "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = :t", t=tenant.tenant_id)
        assert await cached.authenticate(tenant.api_key) == first
        cached.forget()
        assert await cached.authenticate(tenant.api_key) is None
    finally:
        await cached.close()


async def test_records_last_use(tenant: CreatedTenant, auth: ApiKeyAuthenticator, admin_db: Database) -> None:
    principal = await auth.authenticate(tenant.api_key)
    assert principal is not None
    await auth.close()
    async with admin_db.engine.connect() as conn:
        used = await conn.scalar(text("SELECT last_used_at FROM api_keys WHERE id = :k"), {"k": principal.key_id})
    assert used is not None


async def test_a_failing_touch_does_not_escape(
    tenant: CreatedTenant, app_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    authenticator = ApiKeyAuthenticator(app_db, PEPPER, cache_seconds=60)
    first = await authenticator.authenticate(tenant.api_key)
    await authenticator.close()
    # From here on the database is unreachable: the cached answer still serves, and the due touch fails
    # in the background, where it is logged and swallowed.
    unreachable = Database("postgresql://nobody:x@127.0.0.1:9/none", pool_size=1)
    authenticator._db = unreachable
    authenticator._last_touch.clear()
    try:
        assert await authenticator.authenticate(tenant.api_key) == first
        await authenticator.close()
    finally:
        await unreachable.close()
    assert "could not record API key use" in caplog.text
