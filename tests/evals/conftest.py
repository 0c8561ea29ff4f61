"""An eval run's fixtures: the session's Temporal dev server with the platform's own worker in this process
(every workflow and activity, `app.worker.build_worker`), the shipped agents on `scripted/agent`, and a
tenant owning the runs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from temporalio.client import Client

from app.worker import build_worker
from core.settings import Settings
from db.database import Database
from tenancy.tenants import create_tenant
from tests.e2e.platform import AGENT_MODELS


@dataclass(frozen=True)
class Evals:
    client: Client
    queue: str
    db: Database
    tenant_id: str


@pytest.fixture(scope="module")
def eval_settings(migrated: Settings) -> Settings:
    return migrated.model_copy(
        update={"agent_models": json.dumps(AGENT_MODELS), "model_small": "scripted/echo", "model_large": None}
    )


@pytest.fixture(scope="module")
def owner(eval_settings: Settings) -> Iterator[str]:
    created = asyncio.run(
        create_tenant(
            eval_settings.database_url or "",
            name=f"Evals {uuid.uuid4().hex[:6]}",
            plan="pro",
            pepper=eval_settings.api_key_pepper.get_secret_value(),
        )
    )
    yield created.tenant_id


@pytest.fixture
async def evals(eval_settings: Settings, owner: str) -> AsyncIterator[Evals]:
    queue = f"evals-{uuid.uuid4().hex[:8]}"
    db = Database(eval_settings.resolved_app_database_url(), pool_size=4)
    try:
        async with build_worker(eval_settings, task_queue=queue) as deps, deps.worker:
            yield Evals(client=deps.client, queue=queue, db=db, tenant_id=owner)
    finally:
        await db.close()
