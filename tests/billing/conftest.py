"""Billing fixtures: fresh tenants, Redis, the time-skipping test server, and a ledger seeder."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from core.redis_clients import command_client
from core.settings import Settings
from db.database import Database
from tenancy.tenant_admin import create_tenant
from tests.webhooks.conftest import keyring, skipping_env  # noqa: F401 (fixtures)


async def new_tenant(db: Database, migrated: Settings, plan: str = "pro") -> str:
    created = await create_tenant(
        db,
        name=f"Billing {uuid.uuid4().hex[:8]}",
        plan=plan,
        data_region="eu-west",
        pepper=migrated.api_key_pepper.get_secret_value(),
        actor="test",
    )
    return created.record.id


@pytest.fixture
async def tenant_id(db: Database, migrated: Settings) -> str:
    return await new_tenant(db, migrated)


@pytest.fixture
async def redis(migrated: Settings) -> AsyncIterator[Redis]:
    client = command_client(migrated)
    yield client
    await client.aclose()


async def seed_usage(db: Database, tenant_id: str, at: datetime, tokens: int, *, pieces: int = 3) -> None:
    """Settled ledger rows worth `tokens` at `at` (split over a few steps), plus a reserved one that must not count."""
    async with db.tenant_session(tenant_id) as session:
        for i in range(pieces):
            share = tokens // pieces + (tokens % pieces if i == 0 else 0)
            await session.execute(
                text(
                    "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, prompt_tokens,"
                    " completion_tokens, created_at, settled_at, expires_at)"
                    " VALUES (:t, :k, 'model', :st, 'wf', :p, :c, :at, :settled, :at)"
                ),
                {
                    "t": tenant_id,
                    "k": f"{uuid.uuid4()}",
                    "st": "settled",
                    "p": share // 2,
                    "c": share - share // 2,
                    "at": at,
                    "settled": at + timedelta(seconds=i),
                },
            )
        await session.execute(
            text(
                "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, prompt_tokens, completion_tokens,"
                " created_at, expires_at) VALUES (:t, :k, 'model', 'reserved', 'wf', 1000000, 0, :at, :at)"
            ),
            {"t": tenant_id, "k": f"{uuid.uuid4()}", "at": at},
        )
