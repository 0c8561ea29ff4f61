"""Pooled connections are checked when they may be stale, not on every checkout: a connection the server
closed is never handed out, and one handed back moments ago costs no extra round trip."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from core.settings import Settings
from core.stack.postgres import asyncpg_dsn
from db.database import Database, run_sql
from db.pool_ping import ping_when_idle


async def _backend_pid(db: Database, tenant: str) -> int:
    async with db.tenant_session(tenant) as session:
        return int((await run_sql(session, "SELECT pg_backend_pid()")).scalar_one())


async def test_a_connection_the_server_closed_is_replaced_not_handed_out(db: Database, migrated: Settings) -> None:
    tenant = str(uuid.uuid4())
    first = await _backend_pid(db, tenant)
    admin = await asyncpg.connect(asyncpg_dsn(migrated.database_url or ""))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    await asyncio.sleep(0.3)  # asyncpg learns of the close when the event loop reads the end of the stream
    second = await _backend_pid(db, tenant)
    assert second != first


async def test_a_connection_just_handed_back_is_reused_without_a_ping(migrated: Settings) -> None:
    database = Database(migrated.resolved_app_database_url(), pool_size=1)
    pings: list[int] = []
    try:
        raw = await database.engine.raw_connection()
        adapted = raw.dbapi_connection
        original = type(adapted).ping

        def counting_ping(self: object) -> None:
            pings.append(1)
            original(self)  # type: ignore[arg-type]

        type(adapted).ping = counting_ping  # type: ignore[method-assign]
        raw.close()
        tenant = str(uuid.uuid4())
        pids = {await _backend_pid(database, tenant) for _ in range(5)}
        assert len(pids) == 1 and pings == []

        # Idle for longer than the threshold: the next checkout pings first.
        fresh = Database(migrated.resolved_app_database_url(), pool_size=1)
        ping_when_idle(fresh.engine, after_seconds=0.0)
        try:
            await _backend_pid(fresh, tenant)
            await _backend_pid(fresh, tenant)
            assert pings != []
        finally:
            await fresh.close()
    finally:
        type(adapted).ping = original  # type: ignore[method-assign]
        await database.close()
