"""Per-tenant row counts and checksums of every tenant table, the numbers a restore must reproduce.

Every base table in the `public` and `audit` schemas that has a `tenant_id` column is counted per tenant; the
checksum is an md5 over the rows' text in a fixed order, so any changed, missing or extra row changes it.

The source keeps taking writes during a drill, so its numbers are those of a cut: a REPEATABLE READ snapshot
taken while a named restore point is written to the WAL (`source_snapshot`), and the restore is recovered
to that restore point (`core.dr.scratch`). Both then hold the same committed transactions, and a row updated
or deleted after the cut does not count as a difference.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

import asyncpg

from contracts.dr import TableStat
from core.stack.postgres import asyncpg_dsn

SCHEMAS = ("public", "audit")

_TABLES = """
SELECT c.table_schema, c.table_name
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE t.table_type = 'BASE TABLE' AND c.table_schema = ANY($1::text[]) AND c.column_name = 'tenant_id'
ORDER BY 1, 2
"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def table_stats(conn: asyncpg.Connection) -> list[TableStat]:
    """Every tenant table's rows per tenant, read on `conn` (in its transaction, if any)."""
    stats: list[TableStat] = []
    for name in await _tenant_tables(conn):
        rows = await conn.fetch(
            f"SELECT t.tenant_id::text AS tenant, count(*) AS n, "  # noqa: S608 - names from the catalog
            f"md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS sum FROM {name} t GROUP BY 1"
        )
        stats += [
            TableStat(table=name.replace('"', ""), tenant_id=r["tenant"], rows=r["n"], checksum=r["sum"]) for r in rows
        ]
    return sorted(stats, key=lambda s: (s.table, s.tenant_id))


async def _tenant_tables(conn: asyncpg.Connection) -> list[str]:
    return [f"{_ident(r[0])}.{_ident(r[1])}" for r in await conn.fetch(_TABLES, list(SCHEMAS))]


async def source_snapshot(database_url: str, restore_point: str) -> tuple[datetime, str, list[TableStat]]:
    """A cut of the source: the named restore point in its WAL, and the numbers of exactly that state.

    For a moment (milliseconds) every tenant table is locked against writes (reads go on): in that moment a
    second session takes its REPEATABLE READ snapshot and the restore point is written, so the snapshot and
    the restore point hold the same committed transactions. The writes wait, then go on, while the numbers
    are counted on the snapshot. A restore recovered to that restore point must reproduce them exactly,
    whatever was written or updated meanwhile. Returns (the cut's time, the restore point's LSN, numbers).
    """
    freezer = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    reader = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        tables = await _tenant_tables(freezer)
        read = reader.transaction(isolation="repeatable_read", readonly=True)
        async with freezer.transaction():
            # Waits for the writes in flight, then holds new ones; a stuck writer fails the drill, not the app.
            await freezer.execute("SET LOCAL lock_timeout = '10s'")
            await freezer.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
            await read.start()
            marker: datetime = await reader.fetchval("SELECT clock_timestamp()")
            lsn = str(await freezer.fetchval("SELECT pg_create_restore_point($1)::text", restore_point))
        try:
            return marker, lsn, await table_stats(reader)
        finally:
            await read.rollback()
    finally:
        await reader.close()
        await freezer.close()


async def server_snapshot(
    database_urls: dict[str, str], restore_point: str
) -> tuple[datetime, str, dict[str, list[TableStat]]]:
    """`source_snapshot` across every database of one server (`database_urls`: scope -> URL; the first writes
    the restore point): every database's tenant tables are locked, each database gets its REPEATABLE READ
    snapshot, then the one restore point is written, so all of them hold the same cut of the server's WAL."""
    async with contextlib.AsyncExitStack() as conns:
        freezers: dict[str, asyncpg.Connection] = {}
        readers: dict[str, asyncpg.Connection] = {}
        for scope, url in database_urls.items():
            freezers[scope] = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
            conns.push_async_callback(freezers[scope].close)
            readers[scope] = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
            conns.push_async_callback(readers[scope].close)
        reads = {
            scope: reader.transaction(isolation="repeatable_read", readonly=True) for scope, reader in readers.items()
        }
        async with contextlib.AsyncExitStack() as locks:
            for freezer in freezers.values():
                await locks.enter_async_context(freezer.transaction())
                # Waits for the writes in flight, then holds new ones; a stuck writer fails the drill, not the app.
                await freezer.execute("SET LOCAL lock_timeout = '10s'")
                tables = await _tenant_tables(freezer)
                if tables:
                    await freezer.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
            marker: datetime | None = None
            for scope, reader in readers.items():
                await reads[scope].start()
                # A REPEATABLE READ snapshot is taken by the transaction's first query.
                marker = await reader.fetchval("SELECT clock_timestamp()")
            first = freezers[next(iter(database_urls))]
            lsn = str(await first.fetchval("SELECT pg_create_restore_point($1)::text", restore_point))
        assert marker is not None
        stats = {scope: await table_stats(reader) for scope, reader in readers.items()}
        for read in reads.values():
            await read.rollback()
        return marker, lsn, stats


async def restored_numbers(database_url: str) -> tuple[str, list[TableStat]]:
    """The restored cluster's WAL position (where its recovery stopped) and its numbers."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        lsn = str(await conn.fetchval("SELECT pg_current_wal_lsn()::text"))
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return lsn, await table_stats(conn)
    finally:
        await conn.close()
