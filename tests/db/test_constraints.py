"""Keys and checks the code relies on the database for: exactly-once writes, tenant-safe references, sane rows.

Retried activities and saga steps write with `ON CONFLICT (...)`: without a unique index on exactly those
columns the statement fails, or worse, a missing key lets a retry write a second row (a second charge of a
metered step, a second answer to one message). Foreign-key checks ignore row-level security, so a reference
between tenant tables is only safe when it carries the tenant.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from db.database import Database, run_sql
from tests.db import catalog

_IDEMPOTENCY_KEY = "(tenant_id, idempotency_key)"
# The conflict targets of the idempotent writers (`ON CONFLICT` in the application's SQL).
CONFLICT_TARGETS = [
    # One ledger row per metered step, whatever the attempt: the heart of exactly-once metering.
    ("public.usage_ledger", "(tenant_id, key)"),
    ("public.tool_calls", "(tenant_id, message_id, call_id)"),
    # A retried model activity writes no second answer, a retried submit no second user message.
    ("public.messages", "(tenant_id, reply_to) WHERE reply_to IS NOT NULL"),
    ("public.messages", "(tenant_id, conversation_id, client_message_id) WHERE client_message_id IS NOT NULL"),
    # A second writer that skipped the chain lock still cannot fork the audit chain.
    ("audit.events", "(tenant_id, seq)"),
    ("audit.events", "(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL"),
    ("public.approvals", "(id)"),
    ("public.budgets", "(tenant_id)"),
    ("public.tenant_tools", "(tenant_id, tool)"),
    ("public.connector_configs", "(tenant_id, system)"),
    ("public.memberships", "(tenant_id, user_id)"),
    ("public.users", "(subject)"),
    ("public.platform_admins", "(subject)"),
    ("public.orders", _IDEMPOTENCY_KEY),
    ("public.reservations", "(tenant_id, idempotency_key, sku)"),
    ("public.shipments", _IDEMPOTENCY_KEY),
    ("public.leads", _IDEMPOTENCY_KEY),
    ("public.tickets", _IDEMPOTENCY_KEY),
    ("public.sandbox_payments", _IDEMPOTENCY_KEY),
    ("public.sandbox_shipments", _IDEMPOTENCY_KEY),
    ("public.sandbox_crm_contacts", _IDEMPOTENCY_KEY),
]


@pytest.mark.parametrize(("table", "target"), CONFLICT_TARGETS)
async def test_an_idempotent_writer_finds_its_unique_key(admin_db: Database, table: str, target: str) -> None:
    # Postgres looks for the arbiter index while planning, so EXPLAIN is enough to prove it exists.
    sql = f"EXPLAIN INSERT INTO {table} OVERRIDING SYSTEM VALUE SELECT * FROM {table} WHERE false ON CONFLICT {target} DO NOTHING"  # noqa: S608, E501
    async with admin_db.engine.connect() as conn:
        await conn.execute(text(sql))


async def test_every_reference_between_tenant_tables_carries_the_tenant(
    admin_db: Database,
    subtests: pytest.Subtests,
) -> None:
    async with admin_db.engine.connect() as conn:
        tables = await catalog.tenant_tables(conn)
        tenant_tables = {table.qualified for table in tables}
        references = [(table, key) for table in tables for key in await catalog.foreign_keys(conn, table.qualified)]
    between = [(table, key) for table, key in references if key.parent in tenant_tables]
    assert between, "no reference between tenant tables found"
    for table, key in between:
        with subtests.test(key=f"{table}.{key.name}"):
            pairs = dict(zip(key.columns, key.parent_columns, strict=True))
            assert pairs.get(catalog.TENANT_COLUMN) == catalog.TENANT_COLUMN, f"{key.name}: {pairs}"


async def _insert(db: Database, tenant: str, sql: str, **params: str) -> None:
    async with db.tenant_session(tenant) as session:
        await run_sql(session, sql, {"tid": tenant, **params})


_CUSTOMER = "INSERT INTO customers (id, tenant_id, email, name) VALUES (:ref, :tid, 'x@y.z', 'x')"
_CONVERSATION = "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:ref, :tid, 'support', 'api')"
# Each row names a parent of another tenant by its id, as someone who learned the id would.
CROSS_TENANT_REFERENCES = [
    (
        _CUSTOMER,
        "INSERT INTO conversations (id, tenant_id, agent, channel, customer_id) "
        "VALUES (:id, :tid, 'support', 'api', :ref)",
    ),
    (_CUSTOMER, "INSERT INTO orders (id, tenant_id, customer_id, total_cents) VALUES (:id, :tid, :ref, 1)"),
    (
        _CONVERSATION,
        "INSERT INTO messages (id, tenant_id, conversation_id, role, content) VALUES (:id, :tid, :ref, 'user', 'hi')",
    ),
]


@pytest.mark.parametrize(("parent", "child"), CROSS_TENANT_REFERENCES)
async def test_a_row_can_not_point_at_another_tenants_row(
    app_db: Database, two_tenants: tuple[str, str], parent: str, child: str
) -> None:
    a, b = two_tenants
    ref = str(uuid.uuid4())
    await _insert(app_db, b, parent, ref=ref)
    with pytest.raises(IntegrityError):
        await _insert(app_db, a, child, id=str(uuid.uuid4()), ref=ref)


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        (
            "INSERT INTO budgets (tenant_id, daily_soft_usd, daily_hard_usd) VALUES (:tid, 5, 4)",
            "ck_budgets_soft_below_hard",
        ),
        ("INSERT INTO budgets (tenant_id, monthly_hard_usd) VALUES (:tid, -1)", "ck_budgets_limits"),
        (
            "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, expires_at) "
            "VALUES (:tid, 'k', 'model', 'paid', 'wf', now())",
            "ck_usage_ledger_status",
        ),
        (
            "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, expires_at) "
            "VALUES (:tid, 'k', 'image', 'reserved', 'wf', now())",
            "ck_usage_ledger_kind",
        ),
        (
            "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, expires_at, cost_usd) "
            "VALUES (:tid, 'k', 'model', 'settled', 'wf', now(), -1)",
            "ck_usage_ledger_amounts",
        ),
        (
            "INSERT INTO tool_calls (tenant_id, message_id, call_id, conversation_id, tool, status) "
            "VALUES (:tid, 'm', 'c', 'conv', 'orders.lookup', 'exploded')",
            "ck_tool_calls_status",
        ),
        (
            "INSERT INTO products (tenant_id, sku, name, price_cents, on_hand, reserved) "
            "VALUES (:tid, 's', 'n', 1, 1, 2)",
            "ck_products_stock",
        ),
    ],
)
async def test_the_database_refuses_impossible_rows(
    app_db: Database, two_tenants: tuple[str, str], sql: str, constraint: str
) -> None:
    with pytest.raises(DBAPIError, match=constraint):
        await _insert(app_db, two_tenants[0], sql)
