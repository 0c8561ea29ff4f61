"""What the migrated database says about itself: its tenant tables, their columns, keys, checks and policies.

The schema tests take their list of tables from here rather than from a list in the code, so a table added
by a migration is held to the same rules the moment it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

TENANT_COLUMN = "tenant_id"

_TENANT_TABLES = text(
    """
    SELECT n.nspname AS schema, c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
           pg_get_userbyid(c.relowner) AS owner
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = :column AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
    ORDER BY 1, 2
    """
)
_POLICIES = text(
    "SELECT policyname AS name, permissive, roles::text[] AS roles, cmd, qual, with_check FROM pg_policies "
    "WHERE schemaname = :schema AND tablename = :table ORDER BY 1"
)
_COLUMNS = text(
    """
    SELECT a.attname AS name, t.typname AS base_type, format_type(a.atttypid, a.atttypmod) AS sql_type,
           a.attnotnull AS not_null, a.atthasdef AS has_default, a.attidentity <> '' OR a.attgenerated <> ''
           AS assigned_by_database
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = CAST(:qualified AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
    """
)
_FOREIGN_KEYS = text(
    """
    SELECT con.conname AS name, pn.nspname AS parent_schema, pc.relname AS parent,
           ARRAY(SELECT attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute ON attrelid = con.conrelid AND attnum = k.n ORDER BY k.i)::text[] AS columns,
           ARRAY(SELECT attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute ON attrelid = con.confrelid AND attnum = k.n ORDER BY k.i)::text[] AS parent_columns
    FROM pg_constraint con
    JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
    WHERE con.contype = 'f' AND con.conrelid = CAST(:qualified AS regclass)
    ORDER BY 1
    """
)
_CHECKS = text(
    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE contype = 'c' AND conrelid = CAST(:qualified AS regclass) ORDER BY conname"
)


@dataclass(frozen=True)
class Policy:
    name: str
    permissive: str
    roles: tuple[str, ...]
    cmd: str
    qual: str | None
    with_check: str | None


@dataclass(frozen=True)
class Column:
    name: str
    base_type: str
    sql_type: str
    not_null: bool
    has_default: bool
    assigned_by_database: bool


@dataclass(frozen=True)
class ForeignKey:
    name: str
    parent: str
    columns: tuple[str, ...]
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    rls: bool
    forced: bool
    owner: str

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


def qualify(schema: str, name: str) -> str:
    return f'"{schema}"."{name}"'


async def tenant_tables(conn: AsyncConnection) -> list[Table]:
    """Every table, in any schema of ours, with a `tenant_id` column."""
    rows = (await conn.execute(_TENANT_TABLES, {"column": TENANT_COLUMN})).all()
    return [Table(**row._asdict()) for row in rows]


async def policies(conn: AsyncConnection, table: Table) -> list[Policy]:
    rows = (await conn.execute(_POLICIES, {"schema": table.schema, "table": table.name})).all()
    return [Policy(**{**row._asdict(), "roles": tuple(row.roles)}) for row in rows]


async def columns(conn: AsyncConnection, qualified: str) -> list[Column]:
    return [Column(**row._asdict()) for row in await conn.execute(_COLUMNS, {"qualified": qualified})]


async def foreign_keys(conn: AsyncConnection, qualified: str) -> list[ForeignKey]:
    rows = await conn.execute(_FOREIGN_KEYS, {"qualified": qualified})
    return [
        ForeignKey(
            name=row.name,
            parent=qualify(row.parent_schema, row.parent),
            columns=tuple(row.columns),
            parent_columns=tuple(row.parent_columns),
        )
        for row in rows
    ]


async def checks(conn: AsyncConnection, qualified: str) -> list[str]:
    return list((await conn.execute(_CHECKS, {"qualified": qualified})).scalars())
