"""The erasure plan against the migrated schema: every tenant table decided on, every customer column erased.

The tables and columns come from the catalog, so a migration that adds a table (or a column that links rows to
a customer) fails here until `policies/erasure/plan.py` says what erasure does with it.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import Settings
from db.database import to_async_url
from policies.erasure.plan import BY_TABLE, RULES, Action

# Columns that tie a row to one end customer: their id, their conversations, or their contact details.
CUSTOMER_COLUMNS = frozenset({"customer_id", "conversation_id", "email", "phone"})
# Tables that keep such a column on purpose, and why; anything else with one must be erased or anonymised.
KEPT_ON_PURPOSE = {
    "public.usage_ledger": "amounts for the books; its conversation ids point at deleted conversations",
    "public.erasures": "the record of the erasure itself",
}

_TABLES = text(
    """
    SELECT n.nspname || '.' || c.relname AS name,
           ARRAY(SELECT a.attname::text FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
           ARRAY(SELECT pn.nspname || '.' || p.relname FROM pg_constraint k
                 JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
                 WHERE k.conrelid = c.oid AND k.contype = 'f') AS parents
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      AND (c.oid = 'public.tenants'::regclass OR EXISTS (
            SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
    """
)


def _catalog(settings: Settings) -> dict[str, tuple[set[str], set[str]]]:
    async def read() -> dict[str, tuple[set[str], set[str]]]:
        engine = create_async_engine(to_async_url(settings.database_url or ""))
        try:
            async with engine.connect() as conn:
                return {r.name: (set(r.columns), set(r.parents)) for r in await conn.execute(_TABLES)}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_every_tenant_table_is_decided_on(migrated: Settings) -> None:
    tables = _catalog(migrated)
    assert tables, "no tenant tables found"
    undecided = sorted(set(tables) - set(BY_TABLE))
    assert not undecided, f"tables erasure says nothing about (add them to policies/erasure/plan.py): {undecided}"
    gone = sorted(set(BY_TABLE) - set(tables))
    assert not gone, f"the erasure plan names tables the schema does not have: {gone}"


def test_every_table_linked_to_a_customer_is_erased_or_anonymised(migrated: Settings) -> None:
    linked = {
        name: sorted((columns & CUSTOMER_COLUMNS) | (parents & {"public.customers", "public.conversations"}))
        for name, (columns, parents) in _catalog(migrated).items()
        if columns & CUSTOMER_COLUMNS or parents & {"public.customers", "public.conversations"}
    }
    assert {"public.messages", "public.tickets", "public.leads", "public.customers"} <= set(linked)
    kept = {
        name: why
        for name, why in linked.items()
        if name in BY_TABLE and BY_TABLE[name].action is Action.KEEP and name not in KEPT_ON_PURPOSE
    }
    assert not kept, f"tables holding customer links that erasure keeps: {kept}"


def test_rules_that_erase_say_how_and_why() -> None:
    for rule in RULES:
        assert rule.why, rule.table
        if rule.action is Action.KEEP:
            assert not rule.sql, rule.table
        else:
            verb = "DELETE FROM" if rule.action is Action.DELETE else "UPDATE"
            # Tables outside `public` (the search path) are named with their schema.
            name = rule.table.removeprefix("public.")
            assert rule.sql.startswith(f"{verb} {name} "), rule.table
