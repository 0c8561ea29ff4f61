"""Fixtures for the agent tests: a migrated database, fresh tenants, a private tool registry, API clients.

Activity-level tests run against the session's real Postgres and Redis (as the app role, under row-level
security) through `ActivityEnvironment`; API tests use the e2e platform (gateway and worker processes).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import BaseModel, Field
from redis.asyncio import Redis

from agents.sdk import ToolContext, ToolRegistry, tool
from contracts.agents import Effect
from core.events import EventBus
from core.settings import Settings
from db.database import Database, run_sql
from tenancy.tenants import create_tenant
from tests.e2e.platform import Platform

# Tools of these tests only: the platform's registry is never touched.
AGENT_TOOLS = ToolRegistry()


class LookupArgs(BaseModel):
    order_id: str = Field(max_length=64)


class LookupOut(BaseModel):
    status: str


@tool("orders.lookup", description="Find an order.", effect=Effect.READ, registry=AGENT_TOOLS)
async def lookup(ctx: ToolContext, args: LookupArgs) -> LookupOut:
    return LookupOut(status="placed")


@tool("orders.lookup", version=2, description="Find an order (v2).", effect=Effect.READ, registry=AGENT_TOOLS)
async def lookup_v2(ctx: ToolContext, args: LookupArgs) -> LookupOut:
    return LookupOut(status="placed")


@tool("orders.refund", description="Refund an order.", effect=Effect.IRREVERSIBLE, registry=AGENT_TOOLS)
async def refund(ctx: ToolContext, args: LookupArgs) -> LookupOut:
    return LookupOut(status="refunded")


@tool("payments.charge", description="Charge.", effect=Effect.WRITE, agent_visible=False, registry=AGENT_TOOLS)
async def charge(ctx: ToolContext, args: LookupArgs) -> LookupOut:
    return LookupOut(status="charged")


@pytest.fixture
async def bus(migrated: Settings) -> AsyncIterator[EventBus]:
    redis = Redis.from_url(migrated.redis_url or "", decode_responses=False)
    yield EventBus(redis)
    await redis.aclose()


async def new_tenant(settings: Settings) -> str:
    created = await create_tenant(
        settings.database_url or "",
        name=f"Agents {uuid.uuid4().hex[:8]}",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    return created.tenant_id


@pytest.fixture
async def tenant(migrated: Settings) -> str:
    return await new_tenant(migrated)


@pytest.fixture
async def other_tenant(migrated: Settings) -> str:
    return await new_tenant(migrated)


async def add_customer(db: Database, tenant_id: str) -> str:
    customer_id = str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO customers (id, tenant_id, email, name) VALUES (:id, :tid, :email, 'Ada')",
            {"id": customer_id, "tid": tenant_id, "email": f"{customer_id}@example.com"},
        )
    return customer_id


@pytest.fixture
def viewer(platform: Platform, api: httpx.Client) -> Iterator[httpx.Client]:
    created = api.post("/v1/api-keys", json={"name": "agents-viewer", "role": "viewer"})
    assert created.status_code == 201, created.text
    with httpx.Client(
        base_url=platform.base_url, headers={"Authorization": f"Bearer {created.json()['api_key']}"}, timeout=30.0
    ) as client:
        yield client
