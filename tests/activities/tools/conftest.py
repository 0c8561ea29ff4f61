"""Fixtures for the built-in tools and the connectors: a migrated database, fresh tenants with the demo
world, connectors from the real factory, and tool contexts built the way the runtime builds them.

Everything runs against the session's real Postgres (as the app role, under row-level security); tools are
called directly, without Temporal, so each test sees exactly what a tool did.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from agents.sdk import ToolContext
from commerce.connectors.factory import ConnectorFactory
from commerce.demo import DemoData, seed_demo
from commerce.tools import load_builtin_tools
from core.settings import Settings
from db.database import Database, run_sql
from tenancy.tenants import create_tenant

MakeContext = Callable[..., Awaitable[ToolContext]]


async def new_tenant(settings: Settings, label: str = "Tools") -> str:
    created = await create_tenant(
        settings.database_url or "",
        name=f"{label} {uuid.uuid4().hex[:8]}",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    return created.tenant_id


@pytest.fixture
async def tenant(migrated: Settings) -> str:
    return await new_tenant(migrated, "Tenant A")


@pytest.fixture
async def other_tenant(migrated: Settings) -> str:
    return await new_tenant(migrated, "Tenant B")


@pytest.fixture
async def demo(db: Database, tenant: str) -> DemoData:
    return await seed_demo(db, tenant)


@pytest.fixture
async def other_demo(db: Database, other_tenant: str) -> DemoData:
    return await seed_demo(db, other_tenant)


@pytest.fixture
async def factory(db: Database, migrated: Settings) -> AsyncIterator[ConnectorFactory]:
    # No caching across a test's configuration changes: every context reads the configuration afresh.
    connectors = ConnectorFactory(db, migrated, ttl_seconds=0)
    yield connectors
    await connectors.close()


@pytest.fixture
def make_ctx(db: Database, factory: ConnectorFactory) -> MakeContext:
    """`await make_ctx(tenant_id, customer_id, key=..., conversation_id=...)`: a context as the runtime makes it."""

    async def make(
        tenant_id: str,
        customer_id: str | None = None,
        *,
        key: str | None = None,
        conversation_id: str | None = None,
        attempt: int = 1,
    ) -> ToolContext:
        return ToolContext(
            tenant_id=tenant_id,
            conversation_id=conversation_id or str(uuid.uuid4()),
            message_id=str(uuid.uuid4()),
            call_id=f"call-{uuid.uuid4().hex[:8]}",
            customer_id=customer_id,
            idempotency_key=key or uuid.uuid4().hex,
            attempt=attempt,
            session=lambda: db.tenant_session(tenant_id),
            connectors=await factory.for_tenant(tenant_id),
        )

    return make


async def run_tool(ctx: ToolContext, name: str, arguments: dict[str, Any] | None = None) -> Any:
    """Validate the arguments with the tool's input model and run it, as the runtime does."""
    registered = load_builtin_tools().get(name)
    assert registered is not None and registered.fn is not None, name
    return await registered.fn(ctx, registered.input_model.model_validate(arguments or {}))


async def scalar(db: Database, tenant_id: str, sql: str, **params: Any) -> Any:
    async with db.tenant_session(tenant_id) as session:
        return (await run_sql(session, sql, params)).scalar()


async def rows(db: Database, tenant_id: str, sql: str, **params: Any) -> list[Any]:
    async with db.tenant_session(tenant_id) as session:
        return list((await run_sql(session, sql, params)).all())
