"""Fixtures for the nightly drift run on the e2e platform: a Temporal client, the app role's pool, Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from db.codec import connect
from db.database import Database
from tests.e2e.platform import Platform
from tests.workflows.tenant_lifecycle.clients import worker_settings


@pytest.fixture
async def temporal(platform: Platform) -> Client:
    return await connect(worker_settings(platform))


@pytest.fixture
async def app_database(platform: Platform) -> AsyncIterator[Database]:
    db = Database(platform.settings.resolved_app_database_url(), pool_size=2)
    yield db
    await db.close()


@pytest.fixture
async def redis(platform: Platform) -> AsyncIterator[Redis]:
    client = Redis.from_url(platform.settings.redis_url or "", decode_responses=False)
    yield client
    await client.aclose()
