"""Fixtures for the saga tests: the session stack migrated, a saga worker on a fresh task queue, a seeded shop."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from core.settings import Settings
from tests.commerce.sagas.harness import SagaEnv, Shop, new_shop, saga_env
from tests.e2e.platform import apply_migrations


@pytest.fixture(scope="session")
def saga_settings(settings: Settings) -> Settings:
    apply_migrations(settings)
    return settings


@pytest.fixture
async def env(saga_settings: Settings) -> AsyncIterator[SagaEnv]:
    async with saga_env(saga_settings, task_queue=f"sagas-{uuid.uuid4().hex[:8]}") as running:
        assert running.worker is not None
        async with running.worker:
            yield running


@pytest.fixture
async def shop(env: SagaEnv) -> Shop:
    """A tenant of its own per test: fault injection, circuit breakers and stock never leak between tests."""
    return await new_shop(env.settings, env.db)
