"""Fixtures for the routing tests: the session's real Postgres (app role, row-level security) and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.events import EventBus
from core.settings import Settings
from tests.agents.conftest import new_tenant


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url or "", decode_responses=False)
    yield client
    await client.aclose()


@pytest.fixture
def bus(redis: Redis) -> EventBus:
    return EventBus(redis)


@pytest.fixture
async def tenant(migrated: Settings) -> str:
    return await new_tenant(migrated)
