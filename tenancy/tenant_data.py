"""A tenant's data as a whole: which tables hold it, an archive of it, and its removal.

The tables are read from the catalog rather than listed: every table with a `tenant_id` that the app role can
read, plus the tenant's own row in `tenants`. A table added later is then exported and purged without anyone
remembering this module. Deletion follows the foreign keys (children first), so no table needs a cascade.

Columns sealed at rest under the tenant's data key are not this module's to open (the modules that own those
tables do it, a layer above): the caller passes an opener per table, which turns a row into what the archive
holds, and the archive carries the clear values, since the tenant leaving gets no keys to open them with.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import Database

MANIFEST = "manifest.json"
_BATCH_ROWS = 500
# Wrapped encryption keys are no data of the tenant's, and handing them out would help nobody; deleting
# them with the rest is what makes whatever copies of the tenant's payloads survive unreadable.
NOT_EXPORTED = frozenset({"public.tenant_data_keys"})
# Deleted last and through their own security-definer functions (the app role may not delete them).
_SPECIAL = frozenset({"public.tenants", "audit.events", "audit.reanchors"})
_SET_TENANT = text("SELECT set_config('app.tenant_id', :tid, true)")
_TABLES = """
    SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'audit') AND has_table_privilege(c.oid, 'SELECT')
      AND (c.oid = 'public.tenants'::regclass OR EXISTS (
            SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
"""
_FOREIGN_KEYS = """
    SELECT cn.nspname || '.' || c.relname AS child, pn.nspname || '.' || p.relname AS parent
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
    JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
    WHERE k.contype = 'f'
"""

Heartbeat = Callable[..., None]
# What a table's row becomes in the archive, read in the export's own tenant-bound session and snapshot.
RowOpener = Callable[[AsyncSession, Row[Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class TenantTable:
    schema: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sql(self) -> str:
        return ".".join('"' + part.replace('"', '""') + '"' for part in (self.schema, self.name))

    @property
    def tenant_column(self) -> str:
        return "id" if self.key == "public.tenants" else "tenant_id"


async def tenant_tables(conn: AsyncConnection) -> list[TenantTable]:
    """The tenant's tables in an order they can be emptied in: every table before those it references."""
    tables = {f"{r.schema}.{r.name}": TenantTable(r.schema, r.name) for r in await conn.execute(text(_TABLES))}
    graph: dict[str, set[str]] = {key: set() for key in tables}
    for edge in await conn.execute(text(_FOREIGN_KEYS)):
        if edge.child in tables and edge.parent in tables and edge.child != edge.parent:
            graph[edge.parent].add(edge.child)
    return [tables[key] for key in TopologicalSorter(graph).static_order()]


async def purge_tenant_rows(conn: AsyncConnection, tenant_id: str, *, heartbeat: Heartbeat) -> dict[str, int]:
    """Delete every row of the tenant in the connection's transaction (bound to it); rows deleted per table."""
    deleted: dict[str, int] = {}
    for table in await tenant_tables(conn):
        if table.key in _SPECIAL:
            continue
        # Identifiers come from the catalog and are quoted; the tenant is a bound parameter.
        delete = text(f"DELETE FROM {table.sql} WHERE tenant_id = :tid")  # noqa: S608
        result = await conn.execute(delete, {"tid": tenant_id})
        deleted[table.key] = int(result.rowcount or 0)
        heartbeat(table.key)
    # The audit triggers let these deletes through only inside the purge function (the events and their
    # re-anchors), which also insists the tenant is offboarding; the tenant's row goes last, when nothing
    # references it any more.
    for key, function in (("audit.events", "audit.purge_tenant"), ("public.tenants", "lifecycle_delete_tenant")):
        deleted[key] = int((await conn.execute(text(f"SELECT {function}(:tid)"), {"tid": tenant_id})).scalar_one())
    return deleted


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


@dataclass(frozen=True)
class ExportResult:
    path: str
    rows: dict[str, int]
    bytes: int


def _absolute(path: Path) -> Path:
    return path.expanduser().resolve()


def _read_manifest(folder: Path) -> ExportResult | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return ExportResult(path=str(folder), rows=manifest["rows"], bytes=manifest["bytes"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_lines(handle: gzip.GzipFile, lines: list[str]) -> None:
    handle.write("".join(lines).encode())


async def _as_is(_session: AsyncSession, row: Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


async def _export_table(
    session: AsyncSession,
    conn: AsyncConnection,
    table: TenantTable,
    tenant_id: str,
    path: Path,
    heartbeat: Heartbeat,
    opener: RowOpener,
) -> int:
    count = 0
    handle = await asyncio.to_thread(gzip.open, path, "wb")
    try:
        select = text(f"SELECT * FROM {table.sql} WHERE {table.tenant_column} = :tid")  # noqa: S608
        result = await conn.stream(select, {"tid": tenant_id})
        async for batch in result.partitions(_BATCH_ROWS):
            lines = [
                json.dumps(await opener(session, row), default=_jsonable, ensure_ascii=False) + "\n" for row in batch
            ]
            await asyncio.to_thread(_write_lines, handle, lines)
            count += len(lines)
            heartbeat(table.key, count)
    finally:
        await asyncio.to_thread(handle.close)
    return count


def _publish(draft: Path, folder: Path, tenant_id: str, rows: dict[str, int]) -> ExportResult:
    files = {
        key: {"file": f"{key}.jsonl.gz", "rows": n, "sha256": _sha256(draft / f"{key}.jsonl.gz")}
        for key, n in rows.items()
    }
    size = sum(path.stat().st_size for path in draft.iterdir())
    manifest = {"tenant_id": tenant_id, "format": "jsonl+gzip", "rows": rows, "files": files, "bytes": size}
    (draft / MANIFEST).write_text(json.dumps(manifest, indent=1))
    draft.rename(folder)
    return ExportResult(path=str(folder), rows=rows, bytes=size)


async def export_tenant(
    db: Database,
    tenant_id: str,
    folder: Path,
    *,
    heartbeat: Heartbeat,
    openers: Mapping[str, RowOpener] | None = None,
) -> ExportResult:
    """Write the tenant's rows to `folder` as gzipped JSON lines, one file per table, and a manifest.

    `openers` (by table key, `public.messages`) turn a table's rows into their archived form, sealed fields
    opened; a table without one is written as it is stored.

    The folder appears complete or not at all (written beside it, then renamed into place), so a retry finds
    either a finished export to return or nothing, never half an archive.
    """
    folder = await asyncio.to_thread(_absolute, folder)
    done = await asyncio.to_thread(_read_manifest, folder)
    if done is not None:
        return done
    draft = folder.with_name(f".{folder.name}.partial")
    await asyncio.to_thread(shutil.rmtree, draft, True)
    await asyncio.to_thread(draft.mkdir, parents=True)
    rows: dict[str, int] = {}
    async with db.engine.connect() as raw:
        # One snapshot for every table, so the archive is consistent across them.
        conn = await raw.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin(), AsyncSession(bind=conn) as session:
            # The openers' session joins this transaction: the same snapshot, and the tenant's keys through
            # the same row-level security.
            await conn.execute(_SET_TENANT, {"tid": tenant_id})
            for table in await tenant_tables(conn):
                if table.key not in NOT_EXPORTED:
                    path = draft / f"{table.key}.jsonl.gz"
                    opener = (openers or {}).get(table.key, _as_is)
                    rows[table.key] = await _export_table(session, conn, table, tenant_id, path, heartbeat, opener)
    return await asyncio.to_thread(_publish, draft, folder, tenant_id, rows)
