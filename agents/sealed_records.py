"""End-customer fields of leads, CRM contacts, tickets, approvals and orders, sealed at rest under the tenant's
data key.

Each table's identifying and free-text columns are sealed together, as one JSON object, into `fields_sealed`
(`core.crypto.fields`, bound to the tenant, the table and the row id); the clear columns stay blank (`''`,
NULL or `{}`). What must stay findable without the clear text gets a keyed hash beside it (`email_hash`,
`phone_hash`: `core.crypto.fields.blind_index`), which is what dedupe and erasure compare. `key_version` is the
data key version of the row's seal, NULL while the row is in clear (written before sealing existed): such a
row is read in clear until key rotation (`reseal`) seals it, in committed batches.

Every reader and writer of these columns goes through this module (the tools, the approvals activity, the
API and console, key rotation, the tenant export), so SQL reading the tables directly sees no clear values.
"""

# ruff: noqa: S608  # statements assembled from this module's constants; every value is a bound parameter
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.crypto.fields import FieldSealer, email_hash, key_version_of, phone_hash
from db.database import run_sql


@dataclass(frozen=True)
class SealedTable:
    name: str
    # Each sealed column and the value its clear column keeps ('' for text, None for NULL, a dict for jsonb).
    blanks: dict[str, Any]
    # Keyed hash columns: hash column -> the sealed column it is taken of (`email_hash` -> `email`).
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def field(self) -> str:
        return f"{self.name}.fields"

    @property
    def columns(self) -> str:
        """The columns `open_fields` needs, for a SELECT list."""
        return ", ".join(("tenant_id", "id", "fields_sealed", *self.blanks))

    @property
    def json_columns(self) -> frozenset[str]:
        return frozenset(c for c, blank in self.blanks.items() if isinstance(blank, dict))


LEADS = SealedTable(
    "leads",
    {"name": "", "email": "", "company": "", "phone": None, "notes": ""},
    {"email_hash": "email", "phone_hash": "phone"},
)
CRM_CONTACTS = SealedTable("sandbox_crm_contacts", {"email": "", "payload": {}}, {"email_hash": "email"})
TICKETS = SealedTable("tickets", {"subject": "", "body": ""})
APPROVALS = SealedTable("approvals", {"arguments": {}, "note": ""})
# An order's note: the customer's own text, or why its saga failed (which may quote them).
ORDERS = SealedTable("orders", {"note": ""})
TABLES: tuple[SealedTable, ...] = (LEADS, CRM_CONTACTS, TICKETS, APPROVALS, ORDERS)


async def _hash(session: AsyncSession, tenant_id: str, column: str, value: Any) -> bytes | None:
    if not value:
        return None
    if column == "email_hash":
        return await email_hash(session, tenant_id, str(value))
    return await phone_hash(session, tenant_id, str(value))


async def seal_fields(
    session: AsyncSession, tenant_id: str, table: SealedTable, row_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Bound parameters for a row holding `values`: each clear column blank (jsonb ones as JSON text),
    `fields_sealed`, `key_version` and the table's keyed hashes."""
    clear = {column: values.get(column, blank) for column, blank in table.blanks.items()}
    # Round-tripped through JSON, so what is read back equals what was stored.
    sealed = await FieldSealer(session, tenant_id).seal_json(table.field, row_id, clear)
    params: dict[str, Any] = {
        column: json.dumps(blank) if isinstance(blank, dict) else blank for column, blank in table.blanks.items()
    }
    params["fields_sealed"] = sealed
    params["key_version"] = key_version_of(sealed)
    for column, source in table.hashes.items():
        params[column] = await _hash(session, tenant_id, column, clear.get(source))
    return params


async def write_fields(
    session: AsyncSession, tenant_id: str, table: SealedTable, row_id: str, values: dict[str, Any]
) -> None:
    """Seal `values` (every sealed column of the table) into the existing row `row_id`."""
    params = await seal_fields(session, tenant_id, table, row_id, values)
    assignments = [
        f"{column} = CAST(:{column} AS jsonb)" if column in table.json_columns else f"{column} = :{column}"
        for column in (*table.blanks, *table.hashes, "fields_sealed", "key_version")
    ]
    await run_sql(session, f"UPDATE {table.name} SET {', '.join(assignments)} WHERE id = :id", {"id": row_id, **params})


def _decoded(table: SealedTable, column: str, value: Any) -> Any:
    if column in table.json_columns and isinstance(value, str | bytes):
        return json.loads(value)
    return value


async def open_fields(session: AsyncSession, table: SealedTable, row: Any) -> dict[str, Any]:
    """The clear values of a row read with `table.columns` (a row from before sealing as it is stored)."""
    if row.fields_sealed is None:
        return {column: _decoded(table, column, getattr(row, column)) for column in table.blanks}
    opened = await FieldSealer(session, str(row.tenant_id)).open_json(table.field, str(row.id), row.fields_sealed)
    return {column: opened.get(column, blank) for column, blank in table.blanks.items()}


def export_opener(table: SealedTable) -> Any:
    """A tenant export's row opener for `table`: the clear values in place, no sealed bytes or hashes."""

    async def export_row(session: AsyncSession, row: Any) -> dict[str, Any]:
        exported = dict(row._mapping)
        exported.update(await open_fields(session, table, row))
        for column in ("fields_sealed", *table.hashes):
            exported.pop(column, None)
        return exported

    return export_row


_STALE = "(key_version IS NULL OR key_version < :target)"


async def reseal(session: AsyncSession, tenant_id: str, table: SealedTable, *, target: int, limit: int) -> int:
    """Seal (again) up to `limit` of the session tenant's rows of `table` in clear or below `target`; how many.

    Rows are locked `FOR UPDATE SKIP LOCKED`, so a writer beside it or a second worker never waits on or
    repeats a batch; the rows themselves say what is left."""
    rows = (
        await run_sql(
            session,
            f"SELECT {table.columns} FROM {table.name} WHERE {_STALE} ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED",
            {"target": target, "limit": limit},
        )
    ).all()
    assignments = [
        f"{column} = CAST(:{column} AS jsonb)" if column in table.json_columns else f"{column} = :{column}"
        for column in (*table.blanks, *table.hashes)
    ]
    update = (
        f"UPDATE {table.name} SET {', '.join(assignments)}, fields_sealed = :fields_sealed,"
        " key_version = :key_version WHERE id = :id"
    )
    for row in rows:
        values = await open_fields(session, table, row)
        await run_sql(
            session, update, {"id": row.id, **await seal_fields(session, tenant_id, table, str(row.id), values)}
        )
    return len(rows)


def remaining_sql() -> str:
    """A sum of the session tenant's rows of these tables in clear or below `:target`, for a SELECT list."""
    return " + ".join(f"(SELECT count(*) FROM {table.name} WHERE {_STALE})" for table in TABLES)
