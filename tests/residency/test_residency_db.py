"""Residency at the database layer, on two real regional databases: where rows land, what is refused in code
and what the regional database refuses by itself, migrations on both, and the single-database default."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agents.transcripts import insert_user_message
from core.settings import Settings
from db.database import Database, run_sql
from db.migrate import migrate
from db.regions import (
    CrossRegionSession,
    RegionalDatabase,
    RegionNotServed,
    TenantNotProvisioned,
    open_database,
    region_app_urls,
)
from tests.residency.conftest import Regional, new_tenant, rows_by_table


async def _converse(db: Database, tenant_id: str, text_: str) -> str:
    conversation_id = str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:id, :t, 'support', 'web')",
            {"id": conversation_id, "t": tenant_id},
        )
        await insert_user_message(
            session,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            message_id=str(uuid.uuid4()),
            content=text_,
            client_message_id=None,
        )
    return conversation_id


async def test_each_tenant_s_rows_land_only_in_its_region(rdb: RegionalDatabase, regional: Regional) -> None:
    eu, _ = await new_tenant(rdb, regional.settings, "eu-west")
    us, _ = await new_tenant(rdb, regional.settings, "us-east")
    await _converse(rdb, eu, "bonjour")
    await _converse(rdb, us, "howdy")

    eu_db, us_db = regional.admin_urls["eu-west"], regional.admin_urls["us-east"]
    assert {"conversations", "messages", "tenants"} <= set(await rows_by_table(eu_db, eu))
    assert {"conversations", "messages", "tenants"} <= set(await rows_by_table(us_db, us))
    assert await rows_by_table(eu_db, us) == {}
    assert await rows_by_table(us_db, eu) == {}
    # The control plane holds the tenants and their credentials, not their conversations.
    control = await rows_by_table(regional.settings.database_url or "", eu)
    assert "api_keys" in control and "conversations" not in control and "messages" not in control


async def test_a_session_on_another_region_is_refused_in_code(rdb: RegionalDatabase, regional: Regional) -> None:
    eu, _ = await new_tenant(rdb, regional.settings, "eu-west")
    with pytest.raises(CrossRegionSession) as refused:
        async with rdb.region_session("us-east", eu):
            raise AssertionError("a session was opened")
    assert refused.value.code == "region_mismatch" and refused.value.region == "us-east"
    async with rdb.region_session("eu-west", eu) as session:
        assert (await run_sql(session, "SELECT data_region FROM tenants")).scalar_one() == "eu-west"


async def test_a_region_without_a_database_is_refused(rdb: RegionalDatabase, regional: Regional) -> None:
    with pytest.raises(ValueError, match="no database"):
        await new_tenant(rdb, regional.settings, "ap-southeast")
    # A tenant created before the regions were configured (here: through the control plane alone).
    control = Database(regional.settings.resolved_app_database_url(), pool_size=1)
    try:
        tenant, _ = await new_tenant(control, regional.settings, "ap-southeast")
    finally:
        await control.close()
    with pytest.raises(RegionNotServed):
        async with rdb.tenant_session(tenant):
            raise AssertionError("a session was opened")
    with pytest.raises(TenantNotProvisioned):
        async with rdb.tenant_session(str(uuid.uuid4())):
            raise AssertionError("a session was opened")


async def test_the_regional_database_refuses_foreign_tenants(rdb: RegionalDatabase, regional: Regional) -> None:
    us, _ = await new_tenant(rdb, regional.settings, "us-east")
    eu_app = region_app_urls(regional.settings)["eu-west"]
    # A bug that picks the wrong pool but binds as the data plane does: refused before the first statement.
    wrong_pool = rdb.planes["eu-west"]
    with pytest.raises(DBAPIError, match="not held in region eu-west"):
        async with wrong_pool.tenant_session(us):
            raise AssertionError("a session was bound")
    # A bug that binds by hand: no row of that tenant can be written, since its tenant row cannot exist here.
    raw = Database(eu_app, pool_size=1)
    try:
        with pytest.raises(DBAPIError, match="fk_conversations_tenant"):
            await _converse(raw, us, "sneaking in")
        with pytest.raises(DBAPIError, match="lives in region us-east"):
            async with raw.admin_session() as session:
                await run_sql(
                    session,
                    "SELECT residency_register_tenant(:id, 'x', :id, 'pro', 'active', 'us-east', now())",
                    {"id": us},
                )
    finally:
        await raw.close()
    # Not even the owner may move a tenant row into a region the database does not hold.
    owner = Database(regional.admin_urls["eu-west"], pool_size=1)
    try:
        with pytest.raises(DBAPIError, match="lives in region us-east"):
            async with owner.admin_session() as session:
                await run_sql(session, "UPDATE tenants SET data_region = 'us-east'")
    finally:
        await owner.close()


async def test_both_regions_are_migrated_and_keep_their_region(regional: Regional) -> None:
    heads = set()
    for region, url in regional.admin_urls.items():
        owner = Database(url, pool_size=1)
        try:
            async with owner.admin_session() as session:
                heads.add((await run_sql(session, "SELECT version_num FROM alembic_version")).scalar_one())
                assert (await run_sql(session, "SELECT region FROM database_region")).scalar_one() == region
        finally:
            await owner.close()
    control = Database(regional.settings.database_url or "", pool_size=1)
    try:
        async with control.admin_session() as session:
            heads.add((await run_sql(session, "SELECT version_num FROM alembic_version")).scalar_one())
            assert (await run_sql(session, "SELECT count(*) FROM database_region")).scalar_one() == 0
    finally:
        await control.close()
    assert len(heads) == 1
    password = regional.settings.app_db_password.get_secret_value()
    with pytest.raises(RuntimeError, match=r"holds region 'eu-west'; it cannot become 'us-east'"):
        await migrate(regional.admin_urls["eu-west"], password, region="us-east")


async def test_the_default_is_one_database_for_every_region(migrated: Settings) -> None:
    db = open_database(migrated, pool_size=1)
    try:
        assert type(db) is Database and db.serves("ap-southeast")
        tenant, _ = await new_tenant(db, migrated, "us-east")
        await _converse(db, tenant, "one database")
        async with db.region_session("eu-west", tenant) as session:
            assert (await run_sql(session, "SELECT count(*) FROM messages")).scalar_one() == 1
            bound = await (await session.connection()).execute(text("SELECT residency_bind_tenant(:t)"), {"t": tenant})
            assert bound.scalar() is None
    finally:
        await db.close()


def test_a_region_may_not_share_the_control_plane_s_database(migrated: Settings) -> None:
    from urllib.parse import urlparse

    control_name = urlparse(migrated.database_url or "").path.lstrip("/")
    settings = migrated.model_copy(update={"region_database_urls": {"eu-west": control_name}})
    with pytest.raises(ValueError, match="distinct from the control plane"):
        open_database(settings)
