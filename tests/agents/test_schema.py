"""Migration 0007 as deployed: a conversation can only name its own tenant's customer; the step is reversible."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db.database import Database, run_sql
from db.migrate import migrate
from tests.db.migrations import run_alembic
from tests.tenancy.conftest import Urls, admin_url, fresh_database, urls  # noqa: F401

from .conftest import add_customer


async def test_a_conversation_cannot_name_another_tenants_customer(
    db: Database, tenant: str, other_tenant: str
) -> None:
    theirs = await add_customer(db, other_tenant)
    mine = await add_customer(db, tenant)
    insert = (
        "INSERT INTO conversations (id, tenant_id, agent, channel, customer_id)"
        " VALUES (:id, :tid, 'support', 'api', :customer)"
    )
    async with db.tenant_session(tenant) as session:
        await run_sql(session, insert, {"id": str(uuid.uuid4()), "tid": tenant, "customer": mine})
    # Foreign-key checks ignore row-level security; the composite key is what stops this.
    with pytest.raises(IntegrityError):
        async with db.tenant_session(tenant) as session:
            await run_sql(session, insert, {"id": str(uuid.uuid4()), "tid": tenant, "customer": theirs})


async def test_downgrade_and_upgrade_again(urls: Urls, fresh_database: str) -> None:  # noqa: F811
    await migrate(fresh_database, urls.app_password)
    db = Database(fresh_database, pool_size=1)
    tables = text("SELECT count(*) FROM pg_class WHERE relname IN ('agent_definitions', 'approvals')")
    column = text(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'conversations'"
        " AND column_name = 'customer_id'"
    )
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: run_alembic(sync, "downgrade", "0006"))
            assert (await conn.scalar(tables), await conn.scalar(column)) == (0, 0)
            await conn.run_sync(lambda sync: run_alembic(sync, "upgrade", "head"))
            assert (await conn.scalar(tables), await conn.scalar(column)) == (2, 1)
    finally:
        await db.close()
    await migrate(fresh_database, urls.app_password)
