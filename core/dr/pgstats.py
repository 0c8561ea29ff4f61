"""Per-tenant row counts and checksums of every tenant table, the numbers a restore must reproduce.

Every base table in the `public` and `audit` schemas that has a `tenant_id` column is counted per tenant; the
checksum is an md5 over the rows' text in a fixed order, so any changed, missing or extra row changes it. Only
rows created at or before the drill's marker are compared (tables without `created_at` are compared whole):
the source keeps taking writes while the backup runs, and the restore holds some of those too.

The source's numbers and its WAL position are read in one REPEATABLE READ transaction, one snapshot, just
before the backup starts. Limits: a row created before the marker but committed after it, or a row older
than the marker that is changed or deleted while the backup runs, shows as a mismatch, named by table and
tenant.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from contracts.dr import TableStat
from core.stack.postgres import asyncpg_dsn

SCHEMAS = ("public", "audit")

_TABLES = """
SELECT c.table_schema, c.table_name, bool_or(c.column_name = 'created_at') AS has_created
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE t.table_type = 'BASE TABLE' AND c.table_schema = ANY($1::text[])
GROUP BY 1, 2
HAVING bool_or(c.column_name = 'tenant_id')
ORDER BY 1, 2
"""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def table_stats(conn: asyncpg.Connection, marker: datetime) -> list[TableStat]:
    """Every tenant table's rows per tenant, as of `marker`, read on `conn` (in its transaction, if any)."""
    stats: list[TableStat] = []
    for schema, table, has_created in await conn.fetch(_TABLES, list(SCHEMAS)):
        name = f"{_ident(schema)}.{_ident(table)}"
        where = "WHERE t.created_at <= $1" if has_created else "WHERE $1::timestamptz IS NOT NULL"
        rows = await conn.fetch(
            f"SELECT t.tenant_id::text AS tenant, count(*) AS n, "  # noqa: S608 - names from the catalog
            f"md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS sum FROM {name} t {where} GROUP BY 1",
            marker,
        )
        stats += [
            TableStat(table=f"{schema}.{table}", tenant_id=r["tenant"], rows=r["n"], checksum=r["sum"]) for r in rows
        ]
    return sorted(stats, key=lambda s: (s.table, s.tenant_id))


async def source_snapshot(database_url: str) -> tuple[datetime, str, list[TableStat]]:
    """The marker (the snapshot's time), the WAL position then, and the numbers, all in one snapshot."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            marker: datetime = await conn.fetchval("SELECT now()")
            lsn = str(await conn.fetchval("SELECT pg_current_wal_lsn()"))
            return marker, lsn, await table_stats(conn, marker)
    finally:
        await conn.close()


async def restored_numbers(database_url: str, marker: datetime, start_lsn: str) -> tuple[bool, list[TableStat]]:
    """Whether the restored cluster replayed past `start_lsn`, and its numbers as of `marker`."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
    try:
        reached = bool(await conn.fetchval("SELECT pg_current_wal_lsn() >= $1::pg_lsn", start_lsn))
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return reached, await table_stats(conn, marker)
    finally:
        await conn.close()
