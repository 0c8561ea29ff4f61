"""Fixtures for end-to-end tests: the platform's processes on the session stack, tenants and clients.

Registered in `tests/conftest.py`, so every folder shares one running platform per session.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from core.settings import Settings
from tests.e2e.platform import Platform, apply_migrations, pick_port, platform_env


@pytest.fixture(scope="session")
def platform(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    apply_migrations(settings)
    data_dir = tmp_path_factory.mktemp("platform")
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    # Every process on one database must share the key-encryption keys, which live under the data dir.
    test_settings = settings.model_copy(update={"task_queue": queue, "data_dir": data_dir})
    running = Platform(
        settings=test_settings,
        data_dir=data_dir,
        env=platform_env(test_settings, data_dir),
        gateway_port=pick_port(),
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def create_test_tenant(settings: Settings, name: str, *, plan: str = "pro") -> tuple[str, str]:
    """A new tenant (its name made unique) and its owner's API key."""
    from tenancy.tenants import create_tenant

    created = asyncio.run(
        create_tenant(
            settings.database_url or "",
            name=f"{name} {uuid.uuid4().hex[:6]}",
            plan=plan,
            pepper=settings.api_key_pepper.get_secret_value(),
        )
    )
    return created.tenant_id, created.api_key


@pytest.fixture(scope="session")
def tenant_a(platform: Platform) -> tuple[str, str]:
    return create_test_tenant(platform.settings, "Tenant A")


@pytest.fixture(scope="session")
def tenant_b(platform: Platform) -> tuple[str, str]:
    return create_test_tenant(platform.settings, "Tenant B")


@pytest.fixture
def api(platform: Platform, tenant_a: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=platform.base_url, headers={"Authorization": f"Bearer {tenant_a[1]}"}, timeout=30.0
    ) as client:
        yield client


@pytest.fixture
def api_b(platform: Platform, tenant_b: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=platform.base_url, headers={"Authorization": f"Bearer {tenant_b[1]}"}, timeout=30.0
    ) as client:
        yield client
