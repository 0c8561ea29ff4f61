"""A valid row for any tenant table, made up from the catalog alone.

The isolation test writes to every table it finds, including tables nobody has told it about, so it cannot
rely on hand-written fixtures. Each required column gets a value of its type; a column a check constraint
limits to a list gets the first value of the list; a required foreign key gets a parent row of its own, made
the same way. Text is 64 hex digits, which also passes the hash-shaped checks. A table this cannot fill
fails its test with the column named, rather than being left out.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.db import catalog

TENANTS = '"public"."tenants"'
_MAX_DEPTH = 4
_ENUMERATED = re.compile(r"\(?(\w+)\)?(?:::\w+)? = ANY \(\(?ARRAY\[([^\]]*)\]")
_FIRST_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_VECTOR = re.compile(r"vector\((\d+)\)")


@dataclass(frozen=True)
class Row:
    """An INSERT for one table; every value travels as text and is cast by the database to its column's type."""

    qualified: str
    values: dict[str, str]
    types: dict[str, str]

    def insert(self, *, returning: str = "") -> tuple[str, dict[str, str]]:
        names = list(self.values)
        casts = ", ".join(f"CAST(CAST(:p{i} AS text) AS {self.types[name]})" for i, name in enumerate(names))
        columns = ", ".join(f'"{name}"' for name in names)
        sql = f"INSERT INTO {self.qualified} ({columns}) VALUES ({casts})"  # noqa: S608
        return sql + (f" RETURNING {returning}" if returning else ""), {
            f"p{i}": self.values[name] for i, name in enumerate(names)
        }


def _literal(column: catalog.Column) -> str:
    base = column.base_type
    if base in {"varchar", "text", "bpchar", "citext"}:
        return uuid.uuid4().hex + uuid.uuid4().hex
    if base in {"int2", "int4", "int8", "numeric"}:
        return "1"
    if base in {"float4", "float8"}:
        # Floats are shares and rates more often than counts: a value inside (0, 1) meets their range checks.
        return "0.5"
    if base == "bool":
        return "true"
    if base in {"timestamptz", "timestamp", "date"}:
        return "now"
    if base in {"json", "jsonb"}:
        return "{}"
    if base == "bytea":
        return "\\x00"
    if base == "uuid":
        return str(uuid.uuid4())
    if base.startswith("_"):
        return "{}"
    dimensions = _VECTOR.fullmatch(column.sql_type)
    if dimensions:
        return "[" + ",".join(["0"] * int(dimensions[1])) + "]"
    raise AssertionError(f"no sample value for {column.name} of type {column.sql_type}: teach tests/db/rows.py")


def _enumerated(checks: list[str]) -> dict[str, str]:
    """The first allowed value of each column a check constraint limits to a list."""
    allowed: dict[str, str] = {}
    for definition in checks:
        for match in _ENUMERATED.finditer(definition):
            first = _FIRST_LITERAL.search(match[2])
            if first is not None:
                allowed.setdefault(match[1], first[1].replace("''", "'"))
    return allowed


def _required(column: catalog.Column) -> bool:
    return column.not_null and not column.has_default and not column.assigned_by_database


async def make_row(admin: AsyncConnection, qualified: str, tenant_id: str, *, depth: int = 0) -> Row:
    """A row of `qualified` for `tenant_id`; parent rows its foreign keys need are inserted on `admin` now."""
    if depth > _MAX_DEPTH:
        raise AssertionError(f"{qualified}: foreign keys nest deeper than {_MAX_DEPTH} tables")
    columns = {column.name: column for column in await catalog.columns(admin, qualified)}
    types = {name: column.sql_type for name, column in columns.items()}
    values: dict[str, str] = {}
    if catalog.TENANT_COLUMN in columns:
        values[catalog.TENANT_COLUMN] = tenant_id
    for key in await catalog.foreign_keys(admin, qualified):
        own = [name for name in key.columns if name != catalog.TENANT_COLUMN]
        if key.parent == TENANTS or not any(_required(columns[name]) for name in own):
            continue
        parent = await make_row(admin, key.parent, tenant_id, depth=depth + 1)
        sql, params = parent.insert(returning=", ".join(f'"{name}"' for name in key.parent_columns))
        inserted: Any = (await admin.execute(text(sql), params)).one()
        for name, value in zip(key.columns, inserted, strict=True):
            values.setdefault(name, str(value))
    allowed = _enumerated(await catalog.checks(admin, qualified))
    for name, column in columns.items():
        if name not in values and _required(column):
            values[name] = allowed.get(name) or _literal(column)
    return Row(qualified=qualified, values=values, types=types)
