"""The audit log: a hash chain per tenant that verifies, that the database keeps append-only, and that shows
any row changed behind its back."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.exc import DBAPIError

from db.database import Database, run_sql
from tenancy.audit import GENESIS_HASH, record_event
from tenancy.audit_read import list_events, verify_chain
from tests.workflows.tenant_lifecycle.clients import NewTenant


async def _events(db: Database, tenant_id: str, count: int, action: str = "test.event") -> None:
    for n in range(count):
        async with db.tenant_session(tenant_id) as session:
            await record_event(session, tenant_id=tenant_id, actor="tests", action=action, details={"n": n})


async def _tamper(owner_database: Database, tenant_id: str, sql: str, seq: int) -> None:
    """Change the chain as its owner can, past the trigger: what verification exists to catch."""
    async with owner_database.tenant_session(tenant_id) as session:
        await run_sql(session, "ALTER TABLE audit.events DISABLE TRIGGER refuse_update_delete")
        await run_sql(session, sql, {"tid": tenant_id, "seq": seq})
        await run_sql(session, "ALTER TABLE audit.events ENABLE TRIGGER refuse_update_delete")


def test_the_log_pages_filters_and_verifies(owner: httpx.Client, admin: httpx.Client, new_tenant: NewTenant) -> None:
    for _ in range(3):
        admin.post(f"/v1/admin/tenants/{new_tenant.id}/suspend")
        admin.post(f"/v1/admin/tenants/{new_tenant.id}/resume")
    events, cursor = [], None
    while True:
        page = owner.get("/v1/audit", params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        events += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Newest first, one chain: each event names the hash of the one before it.
    assert [e["seq"] for e in events] == list(range(len(events), 0, -1))
    assert all(newer["prev_hash"] == older["hash"] for newer, older in itertools.pairwise(events))
    assert events[-1]["prev_hash"] == GENESIS_HASH
    assert len(owner.get("/v1/audit", params={"action": "tenant.suspended"}).json()["items"]) == 3

    middle = events[len(events) // 2]["occurred_at"]
    newer = owner.get("/v1/audit", params={"from": middle}).json()["items"]
    older = owner.get("/v1/audit", params={"to": middle}).json()["items"]
    assert len(newer) + len(older) == len(events) and all(e["occurred_at"] >= middle for e in newer)
    assert {e["chain"] for e in events} == {"tenant"}  # one database: one chain
    check = {"ok": True, "checked": len(events), "first_bad_id": None}
    chain = {"chain": "tenant", **check, "reanchored": []}
    assert owner.get("/v1/audit/verify").json() == {**check, "chains": [chain], "reanchored": []}


@pytest.mark.parametrize(
    "params",
    [{"cursor": "abc"}, {"limit": 0}, {"limit": 1000}, {"action": "DROP TABLE"}, {"from": "yesterday"}],
)
def test_bad_listing_parameters(owner: httpx.Client, params: dict) -> None:
    assert owner.get("/v1/audit", params=params).status_code in (400, 422)


def test_a_range_ending_before_it_starts(owner: httpx.Client) -> None:
    now = datetime.now(UTC)
    backwards = {"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()}
    assert owner.get("/v1/audit", params=backwards).json()["error"]["code"] == "invalid_range"


def test_tenants_read_only_their_own_log(owner: httpx.Client, api_b: httpx.Client, new_tenant: NewTenant) -> None:
    ours = {e["id"] for e in owner.get("/v1/audit", params={"limit": 200}).json()["items"]}
    theirs = {e["id"] for e in api_b.get("/v1/audit", params={"limit": 200}).json()["items"]}
    assert ours and not ours & theirs
    assert api_b.get("/v1/audit/verify").json()["ok"] is True


async def test_a_row_changed_in_sql_is_found(
    owner: httpx.Client, new_tenant: NewTenant, app_database: Database, owner_database: Database
) -> None:
    await _events(app_database, new_tenant.id, 4)
    sql = "UPDATE audit.events SET details = '{\"n\": 99}' WHERE tenant_id = :tid AND seq = :seq RETURNING id"
    await _tamper(owner_database, new_tenant.id, sql, 3)
    async with app_database.tenant_session(new_tenant.id) as session:
        bad_id = (await run_sql(session, "SELECT id FROM audit.events WHERE seq = 3")).scalar_one()
        result = await verify_chain(session, new_tenant.id)
    assert (result.ok, result.checked, result.first_bad_id) == (False, 3, bad_id)
    check = {"ok": False, "checked": 3, "first_bad_id": bad_id}
    chain = {"chain": "tenant", **check, "reanchored": []}
    assert owner.get("/v1/audit/verify").json() == {**check, "chains": [chain], "reanchored": []}


async def test_a_row_removed_in_sql_is_found(
    new_tenant: NewTenant, app_database: Database, owner_database: Database
) -> None:
    await _events(app_database, new_tenant.id, 4)
    await _tamper(owner_database, new_tenant.id, "DELETE FROM audit.events WHERE tenant_id = :tid AND seq = :seq", 2)
    async with app_database.tenant_session(new_tenant.id) as session:
        after_gap = (await run_sql(session, "SELECT id FROM audit.events WHERE seq = 3")).scalar_one()
        result = await verify_chain(session, new_tenant.id)
    assert not result.ok and result.first_bad_id == after_gap


async def test_the_app_role_cannot_change_history(new_tenant: NewTenant, app_database: Database) -> None:
    await _events(app_database, new_tenant.id, 1)
    for sql in (
        "UPDATE audit.events SET actor = 'mallory'",
        "DELETE FROM audit.events",
        "TRUNCATE audit.events",
        "SELECT audit.purge_tenant(:tid)",  # refused: the tenant is not offboarding
    ):
        with pytest.raises(DBAPIError, match=r"permission denied|append-only|may be purged"):
            async with app_database.tenant_session(new_tenant.id) as session:
                await run_sql(session, sql, {"tid": new_tenant.id})


async def test_the_owner_is_refused_too_unless_purging_explicitly(
    new_tenant: NewTenant, tenant_b: tuple[str, str], app_database: Database, owner_database: Database
) -> None:
    await _events(app_database, new_tenant.id, 2)
    await _events(app_database, tenant_b[0], 1)
    for sql in ("UPDATE audit.events SET actor = 'mallory'", "DELETE FROM audit.events", "TRUNCATE audit.events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with owner_database.tenant_session(new_tenant.id) as session:
                await run_sql(session, sql)
    # Only by naming the tenant, for one transaction, may its events go; other tenants' stay refused.
    async with owner_database.tenant_session(new_tenant.id) as session:
        await run_sql(session, "SELECT set_config('aiaas.audit_purge_tenant', :tid, true)", {"tid": new_tenant.id})
        deleted = await run_sql(session, "DELETE FROM audit.events WHERE tenant_id = :tid", {"tid": new_tenant.id})
        assert deleted.rowcount >= 2
    with pytest.raises(DBAPIError, match="append-only"):
        async with owner_database.tenant_session(tenant_b[0]) as session:
            await run_sql(session, "SELECT set_config('aiaas.audit_purge_tenant', :tid, true)", {"tid": new_tenant.id})
            await run_sql(session, "DELETE FROM audit.events WHERE tenant_id = :tid", {"tid": tenant_b[0]})


async def test_concurrent_writers_never_fork_the_chain(new_tenant: NewTenant, app_database: Database) -> None:
    async def write(n: int) -> None:
        async with app_database.tenant_session(new_tenant.id) as session:
            await record_event(session, tenant_id=new_tenant.id, actor=f"writer-{n}", action="test.concurrent")

    await asyncio.gather(*(write(n) for n in range(24)))
    async with app_database.tenant_session(new_tenant.id) as session:
        assert (await verify_chain(session, new_tenant.id)).ok
        written = await list_events(session, new_tenant.id, action="test.concurrent", limit=100)
    assert len(written) == 24


async def test_events_join_the_callers_transaction(new_tenant: NewTenant, app_database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with app_database.tenant_session(new_tenant.id) as session:
            await record_event(session, tenant_id=new_tenant.id, actor="tests", action="test.rolled_back")
            raise RuntimeError("the change failed")
    async with app_database.tenant_session(new_tenant.id) as session:
        assert await list_events(session, new_tenant.id, action="test.rolled_back") == []


async def test_bad_events_and_wrong_bindings_are_refused(
    new_tenant: NewTenant, tenant_b: tuple[str, str], app_database: Database
) -> None:
    async with app_database.tenant_session(new_tenant.id) as session:
        for bad in (
            {"actor": "tests", "action": "Key Created"},
            {"actor": "", "action": "key.created"},
            {"actor": "tests", "action": "key.created", "details": {"blob": "x" * 20_000}},
        ):
            with pytest.raises(ValueError):
                await record_event(session, tenant_id=new_tenant.id, **bad)
        # A session bound to one tenant writes and reads that tenant's chain only.
        with pytest.raises(ValueError, match="bound"):
            await record_event(session, tenant_id=tenant_b[0], actor="tests", action="test.elsewhere")
        with pytest.raises(ValueError, match="bound"):
            await verify_chain(session, tenant_b[0])
