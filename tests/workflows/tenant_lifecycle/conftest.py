"""Fixtures for tenant lifecycle and audit tests: the e2e platform, platform-admin clients, fresh tenants.

Tenants that a test suspends, offboards or tampers with are created here per test, so the session's shared
`tenant_a`/`tenant_b` stay usable by every other test.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from core.stack.process import ManagedProcess
from db.codec import connect
from db.database import Database
from tests.e2e.platform import Platform, pick_port
from tests.tenancy.conftest import admin_db, admin_url, app_db, fresh_database, two_tenants, urls  # noqa: F401
from tests.workflows.tenant_lifecycle.clients import NewTenant, bearer, platform_token, worker_settings


@pytest.fixture
def admin(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.base_url, headers=bearer(platform_token(platform)), timeout=30.0) as client:
        yield client


@pytest.fixture
def new_tenant(admin: httpx.Client) -> NewTenant:
    name = f"Lifecycle {uuid.uuid4().hex[:8]}"
    response = admin.post("/v1/admin/tenants", json={"name": name, "plan": "pro", "data_region": "eu-central"})
    assert response.status_code == 201, response.text
    body = response.json()
    return NewTenant(id=body["tenant"]["id"], api_key=body["api_key"], name=name)


@pytest.fixture
def owner(platform: Platform, new_tenant: NewTenant) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.base_url, headers=bearer(new_tenant.api_key), timeout=30.0) as client:
        yield client


@pytest.fixture
async def temporal(platform: Platform) -> Client:
    return await connect(worker_settings(platform))


@pytest.fixture
async def app_database(platform: Platform) -> AsyncIterator[Database]:
    db = Database(platform.settings.resolved_app_database_url(), pool_size=2)
    yield db
    await db.close()


@pytest.fixture
async def owner_database(platform: Platform) -> AsyncIterator[Database]:
    """The schema owner's connection, for what only the owner may do (and for looking behind the API)."""
    db = Database(platform.settings.database_url or "", pool_size=2)
    yield db
    await db.close()


@pytest.fixture
async def redis(platform: Platform) -> AsyncIterator[Redis]:
    client = Redis.from_url(platform.settings.redis_url or "", decode_responses=False)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def caching_gateway(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One more gateway replica, caching principals for 30 s: suspension must reach it through Redis."""
    port = pick_port()
    env = {**platform.env, "AIAAS_AUTH_CACHE_SECONDS": "30"}
    process = ManagedProcess(
        f"caching-gateway-{uuid.uuid4().hex[:4]}",
        [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        data_dir=tmp_path_factory.mktemp("caching-gateway"),
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    process.start()
    try:
        process.wait_ready(lambda: httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200, timeout=60)
        yield url
    finally:
        process.stop()
