"""Fixtures for the routing tests: the session's real Postgres (app role, row-level security) and Redis, and
the platform's worker on a queue of its own for the canary workflows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from app.worker import build_worker
from core.events import EventBus
from core.settings import Settings
from db.database import Database
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


@pytest.fixture
async def other_tenant(migrated: Settings) -> str:
    return await new_tenant(migrated)


@dataclass(frozen=True)
class Running:
    """The platform's worker (every workflow and activity, `app.worker.build_worker`) on a queue of its own."""

    settings: Settings
    temporal: Client
    queue: str


@pytest.fixture
async def running(migrated: Settings) -> AsyncIterator[Running]:
    queue = f"canary-{uuid.uuid4().hex[:8]}"
    async with build_worker(migrated, task_queue=queue) as deps, deps.worker:
        yield Running(migrated, deps.client, queue)


@pytest.fixture
async def app_database(migrated: Settings) -> AsyncIterator[Database]:
    db = Database(migrated.resolved_app_database_url(), pool_size=2)
    yield db
    await db.close()


@pytest.fixture
async def events(migrated: Settings) -> AsyncIterator[EventBus]:
    redis = Redis.from_url(migrated.redis_url or "", decode_responses=False)
    yield EventBus(redis)
    await redis.aclose()
