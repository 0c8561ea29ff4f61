"""Fixtures for admission tests: tenants on each plan, Redis, and gateway processes of our own.

Tenants are made fresh per test, so one test's buckets, quotas and leases never meet another's. Extra
gateways run on the session stack with the suite's platform, configured through the environment like any
replica (a second replica sharing Redis, or one with low shedding thresholds and a task queue of its own).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis

from core.settings import Settings
from core.stack.process import ManagedProcess
from tenancy.tenants import create_tenant
from tests.e2e.platform import Platform, pick_port, platform_env


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    api_key: str
    plan: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


MakeTenant = Callable[[str], Tenant]


@pytest.fixture
def make_tenant(platform: Platform) -> MakeTenant:
    def make(plan: str) -> Tenant:
        created = asyncio.run(
            create_tenant(
                platform.settings.database_url or "",
                name=f"Admission {plan} {uuid.uuid4().hex[:6]}",
                plan=plan,
                pepper=platform.settings.api_key_pepper.get_secret_value(),
            )
        )
        return Tenant(created.tenant_id, created.api_key, plan)

    return make


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()


@contextmanager
def gateway_process(
    platform: Platform, tmp_path_factory: pytest.TempPathFactory, name: str, ready_timeout: float = 60, **env: str
) -> Iterator[str]:
    """A gateway on the session stack, with `env` on top of the platform's environment; yields its URL."""
    data_dir = tmp_path_factory.mktemp(name)
    port = pick_port()
    process = ManagedProcess(
        f"{name}-{uuid.uuid4().hex[:4]}",
        [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        data_dir=data_dir,
        env={**platform_env(platform.settings, data_dir), **env},
    )
    url = f"http://127.0.0.1:{port}"
    process.start()
    try:
        process.wait_ready(lambda: httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200, timeout=ready_timeout)
        yield url
    finally:
        process.stop()


@pytest.fixture(scope="session")
def second_gateway(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another replica of the platform's gateway, sharing its Redis, Postgres and Temporal."""
    with gateway_process(platform, tmp_path_factory, "admission-replica") as url:
        yield url
