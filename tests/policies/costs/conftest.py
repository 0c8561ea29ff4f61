"""Fixtures for cost control tests: the app-role database, Redis, a guard and metering over them, tenants.

The ledger tests run against the session's real Postgres (as the RLS-bound app role) and Redis; the API
tests go through the platform's gateway process with tenants of their own, so nothing another test bills
to the shared tenants shows up in their sums.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from redis.asyncio import Redis

from core.events import EventBus
from core.settings import Settings
from db.database import Database
from policies.cost_guard import CostGuard
from policies.ledger import LedgerKind, ledger_key
from policies.metering import Metering
from policies.pricing import Pricing
from tenancy.tenants import create_tenant
from tests.e2e.platform import Platform
from tests.tenancy.conftest import Urls, admin_db, admin_url, app_db, fresh_database, two_tenants, urls  # noqa: F401

PEPPER = "costs-tests-pepper"


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url or "", decode_responses=False)
    yield client
    await client.aclose()


@pytest.fixture
def bus(redis: Redis) -> EventBus:
    return EventBus(redis)


@pytest.fixture
def pricing(settings: Settings) -> Pricing:
    return Pricing.from_settings(settings)


@pytest.fixture
def guard(app_db: Database, redis: Redis, bus: EventBus, pricing: Pricing) -> CostGuard:  # noqa: F811
    return CostGuard(app_db, redis, bus, mode_cache_seconds=60, model_label=pricing.metric_label)


@pytest.fixture
def metering(guard: CostGuard, pricing: Pricing) -> Metering:
    return Metering(guard, pricing, reservation_ttl_seconds=600, default_max_completion_tokens=256)


@pytest.fixture
async def tenant(urls: Urls) -> str:  # noqa: F811
    created = await create_tenant(urls.admin, name=f"Costs {uuid.uuid4().hex[:8]}", pepper=PEPPER)
    return created.tenant_id


async def settle_call(
    guard: CostGuard,
    tenant_id: str,
    cost: str,
    *,
    conversation_id: str | None = None,
    model: str = "scripted/echo",
    agent: str = "support",
    tokens: tuple[int, int] = (10, 5),
) -> str:
    """Reserve and settle one model call costing `cost`; returns its ledger key."""
    key = ledger_key(f"{tenant_id}:conv:{conversation_id or 'none'}", f"{uuid.uuid4()}:model:0")
    await guard.reserve(
        tenant_id,
        key,
        kind=LedgerKind.MODEL,
        estimate_usd=Decimal("0.01"),
        workflow_id="wf",
        conversation_id=conversation_id,
        agent=agent,
        model=model,
    )
    assert await guard.settle(
        tenant_id, key, cost_usd=Decimal(cost), prompt_tokens=tokens[0], completion_tokens=tokens[1]
    )
    return key


@dataclass(frozen=True)
class ApiTenant:
    tenant_id: str
    api_key: str


def api_tenant(platform: Platform, label: str) -> ApiTenant:
    created = asyncio.run(
        create_tenant(
            platform.settings.database_url or "",
            name=f"{label} {uuid.uuid4().hex[:8]}",
            plan="pro",
            pepper=platform.settings.api_key_pepper.get_secret_value(),
        )
    )
    return ApiTenant(created.tenant_id, created.api_key)


def client_for(platform: Platform, key: str) -> httpx.Client:
    return httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)


@pytest.fixture
def owner_a(platform: Platform) -> Iterator[tuple[ApiTenant, httpx.Client]]:
    tenant = api_tenant(platform, "Usage A")
    with client_for(platform, tenant.api_key) as client:
        yield tenant, client


@pytest.fixture
def owner_b(platform: Platform) -> Iterator[tuple[ApiTenant, httpx.Client]]:
    tenant = api_tenant(platform, "Usage B")
    with client_for(platform, tenant.api_key) as client:
        yield tenant, client
