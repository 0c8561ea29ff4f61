"""The console's audit log against a real gateway: the console's own changes appear with a verified chain,
and the chain stays verified once a customer whose details an event sealed is erased (the details gone)."""

from __future__ import annotations

import uuid

from db.database import Database, run_sql
from policies.erasure.store import create_erasure, erase_customer
from tenancy.audit import record_event
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.console.console_client import signed_in
from tests.e2e.agent_world import run_db
from tests.e2e.platform import Platform


def test_the_audit_log_shows_the_console_s_own_changes_and_a_verified_chain(
    console_gateway: ConsoleGateway, platform: Platform
) -> None:
    _tenant, key = new_tenant(platform, "Console audit")
    with signed_in(console_gateway.url, key) as console:
        assert console.post("/console/api-keys", {"name": "audited"}).status_code == 201
        page = console.get("/console/audit")
        assert page.status_code == 200 and 'data-ok="true"' in page.text
        assert "api_key" in page.text and "audited" in page.text
        assert console.get("/console/audit", params={"action": "DROP TABLE"}).status_code == 422


async def _customer_with_a_sealed_audit_note(db: Database, tenant_id: str, note: str) -> tuple[str, str]:
    """A customer, a conversation of theirs, and an audit event about it whose note is sealed."""
    customer, conversation = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO customers (id, tenant_id, email, name) VALUES (:id, :t, :e, 'Audited')",
            {"id": customer, "t": tenant_id, "e": f"{customer}@example.org"},
        )
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel, customer_id)"
            " VALUES (:id, :t, 'orders', 'api', :c)",
            {"id": conversation, "t": tenant_id, "c": customer},
        )
        await record_event(
            session,
            tenant_id=tenant_id,
            actor="user:staff",
            action="approval.denied",
            target=str(uuid.uuid4()),
            details={"conversation_id": conversation, "tool": "orders.refund"},
            private={"note": note},
        )
    return customer, conversation


async def _erase(db: Database, tenant_id: str, customer: str) -> None:
    erasure = str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await create_erasure(session, tenant_id, erasure, customer, "test", "w")
    async with db.tenant_session(tenant_id) as session:
        await erase_customer(session, erasure, customer, lambda *_: None)


def test_the_audit_log_stays_verified_once_a_customer_is_erased(
    console_gateway: ConsoleGateway, platform: Platform
) -> None:
    tenant, key = new_tenant(platform, "Console erasure")
    note = f"spoke to orchid {uuid.uuid4().hex[:8]}"
    customer, _ = run_db(platform.settings, lambda db: _customer_with_a_sealed_audit_note(db, tenant, note))
    with signed_in(console_gateway.url, key) as console:
        page = console.get("/console/audit")
        assert 'data-ok="true"' in page.text and note in page.text
        run_db(platform.settings, lambda db: _erase(db, tenant, customer))
        page = console.get("/console/audit")
        assert page.status_code == 200 and 'data-ok="true"' in page.text
        assert note not in page.text and "customer details erased" in page.text
