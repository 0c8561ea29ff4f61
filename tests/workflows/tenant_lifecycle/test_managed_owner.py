"""Tenant administration and the audit purge where the schema owner is no superuser, as on managed Postgres.

There row-level security binds the owner inside its own definer functions too; what lets their writes
through is the transaction's tenant binding, and what lets the listing read every tenant is 0001's definer
read policy. Without a superuser anywhere, this is the configuration that proves both.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError

from core.stack import StackEndpoints
from db.database import Database, run_sql
from db.migrate import migrate
from tenancy.audit_read import verify_chain
from tenancy.lifecycle import TenantStatus
from tenancy.tenant_admin import TenantNotFound, change_status, create_tenant, get_tenant, list_tenants
from tenancy.tenant_data import purge_tenant_rows
from tests.tenancy.conftest import PEPPER, Urls, app_url_for
from tests.tenancy.test_managed_owner import owner_url  # noqa: F401  (the fixture)


async def test_lifecycle_without_a_superuser(
    urls: Urls,
    owner_url: str,  # noqa: F811
    stack: StackEndpoints,
) -> None:
    await migrate(owner_url, urls.app_password)
    app = Database(app_url_for(owner_url, urls.app_password), pool_size=2)
    redis = Redis.from_url(str(stack.redis_url))
    try:
        first = await create_tenant(app, name="Managed A", plan="free", data_region="us-west", pepper=PEPPER, actor="t")
        second = await create_tenant(app, name="Managed A", plan="pro", data_region="eu-west", pepper=PEPPER, actor="t")
        assert (first.record.slug, second.record.slug) == ("managed-a", "managed-a-2")
        listed = {t.id for t in (await list_tenants(app, limit=10)).items}
        assert {first.record.id, second.record.id} <= listed

        tid = first.record.id
        assert (await change_status(app, redis, tid, TenantStatus.SUSPENDED, actor="t")).status == "suspended"
        offboarding = await change_status(app, redis, tid, TenantStatus.OFFBOARDING, actor="t", retention=timedelta(0))
        assert offboarding.purge_after is not None
        async with app.tenant_session(tid) as session:
            assert (await verify_chain(session, tid)).ok
            rows = await purge_tenant_rows(await session.connection(), tid, heartbeat=lambda *_: None)
        assert rows["public.tenants"] == 1 and rows["audit.events"] >= 3 and rows["public.api_keys"] == 1
        with pytest.raises(TenantNotFound):
            await get_tenant(app, tid)
        # The owner itself, outside the purge, still cannot touch the other tenant's audit log.
        owner = Database(owner_url, pool_size=1)
        try:
            with pytest.raises(DBAPIError, match="append-only"):
                async with owner.tenant_session(second.record.id) as session:
                    await run_sql(session, "DELETE FROM audit.events")
        finally:
            await owner.close()
    finally:
        await redis.aclose()
        await app.close()
