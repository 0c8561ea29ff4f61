"""Leads, CRM contacts, tickets and approvals at rest: no clear value in SQL, rows from before sealing sealed by
key rotation (hashes filled, old versions retired), a tenant export opened, another tenant's keys refused, and
erasure finding a customer's sealed rows by keyed hash and conversation while a neighbour keeps theirs."""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.key_rotation import KeyRotationActivities
from activities.tenant_lifecycle import EXPORT_OPENERS
from agents.sealed_records import (
    APPROVALS,
    CRM_CONTACTS,
    LEADS,
    ORDERS,
    TABLES,
    TICKETS,
    SealedTable,
    open_fields,
    seal_fields,
)
from contracts.key_rotation import ResealInput, RetireInput, RotateKeyInput
from core.crypto.fields import FieldSealer, FieldUnavailable, email_hash, phone_hash
from db.database import Database, run_sql
from policies.erasure.store import create_erasure, erase_customer
from tenancy.tenant_data import export_tenant

NAME, EMAIL, PHONE, NOTE = "Ada Quill", "ada.quill@example.org", "+44 20 7946 0321", "wants 40 seats, budget 9k"
# Each with a character hex never holds, so the sealed bytes SQL prints as hex cannot match by chance.
NEEDLES = ("Ada Quill", "ada.quill", PHONE, "40 seats", "refund to IBAN")


async def _seed(db: Database, tenant: str) -> dict[str, str]:
    """A legacy lead written in clear (before sealing), and a sealed ticket and approval."""
    ids = {"lead": str(uuid.uuid4()), "ticket": str(uuid.uuid4()), "approval": str(uuid.uuid4())}
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "INSERT INTO leads (id, tenant_id, name, email, phone, notes) VALUES (:id, :t, :n, :e, :p, :x)",
            {"id": ids["lead"], "t": tenant, "n": NAME, "e": EMAIL, "p": PHONE, "x": NOTE},
        )
        fields = {"subject": f"Call {NAME}", "body": f"{NAME} on {PHONE} wants a refund to IBAN"}
        await run_sql(
            session,
            "INSERT INTO tickets (id, tenant_id, subject, body, fields_sealed, key_version)"
            " VALUES (:id, :t, :subject, :body, :fields_sealed, :key_version)",
            {"id": ids["ticket"], "t": tenant, **await seal_fields(session, tenant, TICKETS, ids["ticket"], fields)},
        )
        approval = {"arguments": {"reason": f"refund to IBAN for {EMAIL}"}, "note": f"checked with {NAME}"}
        await run_sql(
            session,
            "INSERT INTO approvals (id, tenant_id, conversation_id, message_id, call_id, tool, arguments, note,"
            " status, fields_sealed, key_version) VALUES (:id, :t, 'c', 'm', 'k', 'orders.refund',"
            " CAST(:arguments AS jsonb), :note, 'approved', :fields_sealed, :key_version)",
            {
                "id": ids["approval"],
                "t": tenant,
                **await seal_fields(session, tenant, APPROVALS, ids["approval"], approval),
            },
        )
    return ids


async def _raw(db: Database, tenant: str) -> str:
    """Every row of the four tables as SQL sees it, as text."""
    async with db.tenant_session(tenant) as session:
        parts = [
            str((await run_sql(session, f"SELECT string_agg(r::text, '|') FROM {table.name} r")).scalar_one() or "")
            for table in TABLES
        ]
    return "|".join(parts)


async def _opened(db: Database, tenant: str, table: SealedTable, row_id: str) -> dict[str, Any]:
    async with db.tenant_session(tenant) as session:
        row = (await run_sql(session, f"SELECT {table.columns} FROM {table.name} WHERE id = :id", {"id": row_id})).one()
        return await open_fields(session, table, row)


async def test_rotation_seals_rows_from_before_and_reseals_the_rest(db: Database, tenant: str) -> None:
    ids = await _seed(db, tenant)
    raw = await _raw(db, tenant)
    assert NAME in raw  # the legacy lead, in clear until rotation
    assert "refund to IBAN" not in raw  # the ticket and approval, sealed on write
    async with db.tenant_session(tenant) as session:
        before = await FieldSealer(session, tenant).active_version()
    env, keys = ActivityEnvironment(), KeyRotationActivities(db)
    target = (await env.run(keys.rotate, RotateKeyInput(tenant_id=tenant, above_version=before))).version
    done = await env.run(keys.reseal, ResealInput(tenant_id=tenant, target_version=target, batch_size=1))
    assert done.done
    retire = RetireInput(tenant_id=tenant, actor="test", target_version=target, workflow_id="w")
    assert (await env.run(keys.retire, retire)).retired_versions == list(range(1, target))
    raw = await _raw(db, tenant)
    assert not [needle for needle in NEEDLES if needle in raw], raw
    lead = await _opened(db, tenant, LEADS, ids["lead"])
    assert (lead["name"], lead["email"], lead["phone"], lead["notes"]) == (NAME, EMAIL, PHONE, NOTE)
    assert (await _opened(db, tenant, TICKETS, ids["ticket"]))["body"].endswith("refund to IBAN")
    assert (await _opened(db, tenant, APPROVALS, ids["approval"]))["note"] == f"checked with {NAME}"
    async with db.tenant_session(tenant) as session:
        row = (await run_sql(session, "SELECT email_hash, phone_hash, key_version FROM leads")).one()
        assert bytes(row.email_hash) == await email_hash(session, tenant, EMAIL.upper())
        assert bytes(row.phone_hash) == await phone_hash(session, tenant, "+442079460321")
        for table in TABLES:
            versions = (await run_sql(session, f"SELECT DISTINCT key_version FROM {table.name}")).scalars().all()
            assert set(versions) <= {target}, table.name


async def test_a_sealed_row_does_not_open_in_another_tenant_or_row(
    db: Database, tenant: str, other_tenant: str
) -> None:
    ids = await _seed(db, tenant)
    theirs = await _seed(db, other_tenant)
    async with db.tenant_session(tenant) as session:
        blob = (
            await run_sql(session, "SELECT fields_sealed FROM tickets WHERE id = :id", {"id": ids["ticket"]})
        ).scalar_one()
    async with db.tenant_session(other_tenant) as session:
        await run_sql(
            session, "UPDATE tickets SET fields_sealed = :b WHERE id = :id", {"b": blob, "id": theirs["ticket"]}
        )
    with pytest.raises(FieldUnavailable):
        await _opened(db, other_tenant, TICKETS, theirs["ticket"])
    # Row-level security: the other tenant does not even see the row.
    async with db.tenant_session(other_tenant) as session:
        found = await run_sql(session, "SELECT 1 FROM tickets WHERE id = :id", {"id": ids["ticket"]})
        assert found.first() is None


async def test_a_tenant_export_holds_them_opened(db: Database, tenant: str, tmp_path: Path) -> None:
    await _seed(db, tenant)
    done = await export_tenant(db, tenant, tmp_path / "export", heartbeat=lambda *_: None, openers=EXPORT_OPENERS)
    [ticket] = _archived(Path(done.path) / "public.tickets.jsonl.gz")
    assert ticket["body"].endswith("refund to IBAN") and "fields_sealed" not in ticket
    [approval] = _archived(Path(done.path) / "public.approvals.jsonl.gz")
    assert approval["arguments"] == {"reason": f"refund to IBAN for {EMAIL}"}
    [lead] = _archived(Path(done.path) / "public.leads.jsonl.gz")
    assert lead["email"] == EMAIL and "email_hash" not in lead


def _archived(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


async def _customer_with_records(db: Database, tenant: str, label: str) -> dict[str, Any]:
    """A customer, a conversation of theirs, and sealed records of them: a lead under their email, one captured
    in their conversation under another address with its CRM contact, a ticket and an approval."""
    tag = uuid.uuid4().hex[:8]
    person = {
        "customer": str(uuid.uuid4()),
        "conversation": str(uuid.uuid4()),
        "email": f"{label}.{tag}@example.org",
        "work": f"{label}.{tag}@work.example",
        "phone": f"+44 20 7946 {tag[:4]}",
        "secret": f"orchid-{label}-{tag}",
    }
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "INSERT INTO customers (id, tenant_id, email, name, phone, email_hash) VALUES (:id, :t, :e, :n, :p, :h)",
            {
                "id": person["customer"],
                "t": tenant,
                "e": person["email"],
                "n": label,
                "p": person["phone"],
                "h": await email_hash(session, tenant, person["email"]),
            },
        )
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel, customer_id)"
            " VALUES (:id, :t, 'sales', 'api', :c)",
            {"id": person["conversation"], "t": tenant, "c": person["customer"]},
        )
        for email, source in ((person["email"], "import"), (person["work"], f"conversation:{person['conversation']}")):
            lead = str(uuid.uuid4())
            # The phone written differently from the customer's: the hash is of its digits.
            fields = {
                "name": label,
                "email": email,
                "phone": person["phone"].replace(" ", "-"),
                "notes": person["secret"],
            }
            await run_sql(
                session,
                "INSERT INTO leads (id, tenant_id, name, email, company, phone, source, notes, fields_sealed,"
                " key_version, email_hash, phone_hash) VALUES (:id, :t, :name, :email, :company, :phone, :source,"
                " :notes, :fields_sealed, :key_version, :email_hash, :phone_hash)",
                {"id": lead, "t": tenant, "source": source, **await seal_fields(session, tenant, LEADS, lead, fields)},
            )
        contact = str(uuid.uuid4())
        fields = {"email": person["work"], "payload": {"name": label, "note": person["secret"]}}
        await run_sql(
            session,
            "INSERT INTO sandbox_crm_contacts (id, tenant_id, email, payload, fields_sealed, key_version, email_hash,"
            " idempotency_key) VALUES (:id, :t, :email, CAST(:payload AS jsonb), :fields_sealed, :key_version,"
            " :email_hash, :id)",
            {"id": contact, "t": tenant, **await seal_fields(session, tenant, CRM_CONTACTS, contact, fields)},
        )
        ticket = str(uuid.uuid4())
        await run_sql(
            session,
            "INSERT INTO tickets (id, tenant_id, conversation_id, subject, body, fields_sealed, key_version)"
            " VALUES (:id, :t, :c, :subject, :body, :fields_sealed, :key_version)",
            {
                "id": ticket,
                "t": tenant,
                "c": person["conversation"],
                **await seal_fields(session, tenant, TICKETS, ticket, {"subject": "x", "body": person["secret"]}),
            },
        )
        approval = str(uuid.uuid4())
        await run_sql(
            session,
            "INSERT INTO approvals (id, tenant_id, conversation_id, message_id, call_id, tool, arguments, note,"
            " status, fields_sealed, key_version) VALUES (:id, :t, :c, 'm', 'k', 'orders.refund',"
            " CAST(:arguments AS jsonb), :note, 'pending', :fields_sealed, :key_version)",
            {
                "id": approval,
                "t": tenant,
                "c": person["conversation"],
                **await seal_fields(
                    session, tenant, APPROVALS, approval, {"arguments": {"reason": person["secret"]}, "note": ""}
                ),
            },
        )
        order = str(uuid.uuid4())
        await run_sql(
            session,
            "INSERT INTO orders (id, tenant_id, customer_id, total_cents, note, fields_sealed, key_version)"
            " VALUES (:id, :t, :c, 4200, :note, :fields_sealed, :key_version)",
            {
                "id": order,
                "t": tenant,
                "c": person["customer"],
                **await seal_fields(session, tenant, ORDERS, order, {"note": f"leave with {person['secret']}"}),
            },
        )
        person["order"] = order
    return person


async def _note(db: Database, tenant: str, order_id: str) -> str:
    return str((await _opened(db, tenant, ORDERS, order_id))["note"])


async def _counts(db: Database, tenant: str, person: dict[str, Any]) -> dict[str, int]:
    async with db.tenant_session(tenant) as session:
        params = {
            "h": await email_hash(session, tenant, person["email"]),
            "w": await email_hash(session, tenant, person["work"]),
            "c": person["conversation"],
        }
        return {
            table: int((await run_sql(session, sql, params)).scalar_one())
            for table, sql in (
                ("leads", "SELECT count(*) FROM leads WHERE email_hash IN (:h, :w)"),
                ("contacts", "SELECT count(*) FROM sandbox_crm_contacts WHERE email_hash = :w"),
                ("tickets", "SELECT count(*) FROM tickets WHERE conversation_id = :c"),
                ("approvals", "SELECT count(*) FROM approvals WHERE conversation_id = :c"),
            )
        }


async def test_erasure_finds_the_sealed_records_by_keyed_hash(db: Database, tenant: str) -> None:
    target = await _customer_with_records(db, tenant, "target")
    neighbour = await _customer_with_records(db, tenant, "neighbour")
    assert await _counts(db, tenant, target) == {"leads": 2, "contacts": 1, "tickets": 1, "approvals": 1}
    raw = await _raw(db, tenant)
    assert not [v for v in (target["email"], target["work"], target["secret"], target["phone"]) if v in raw]
    erasure = str(uuid.uuid4())
    async with db.tenant_session(tenant) as session:
        await create_erasure(session, tenant, erasure, target["customer"], "test", "w")
    async with db.tenant_session(tenant) as session:
        rows, _, repeated = await erase_customer(session, erasure, target["customer"], lambda *_: None)
    assert not repeated
    assert (rows["public.leads"], rows["public.sandbox_crm_contacts"]) == (2, 1)
    assert (rows["public.tickets"], rows["public.approvals"]) == (1, 1)
    assert await _counts(db, tenant, target) == {"leads": 0, "contacts": 0, "tickets": 0, "approvals": 0}
    assert await _counts(db, tenant, neighbour) == {"leads": 2, "contacts": 1, "tickets": 1, "approvals": 1}
    # An order keeps its amount; its sealed note goes with the customer, the neighbour's stays.
    assert rows["public.orders"] == 1
    assert (await _note(db, tenant, target["order"]), await _note(db, tenant, neighbour["order"])) == (
        "",
        f"leave with {neighbour['secret']}",
    )
