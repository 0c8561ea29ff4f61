"""Leads (capture, score, qualify) and tickets (create, escalate): one effect per idempotency key, validated
input, and nothing of another tenant."""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from agents.sdk import ToolNotFound, ToolTransientError
from agents.sealed_records import CRM_CONTACTS, LEADS, TICKETS, SealedTable, open_fields
from commerce.connectors.faults import InjectedFailure, inject_fault
from commerce.demo import DemoData
from commerce.tools import load_builtin_tools
from commerce.tools.leads import score_lead
from core.crypto.fields import FieldUnavailable, email_hash, phone_hash
from db.database import Database
from tests.activities.tools.conftest import MakeContext, rows, run_tool, scalar

PROSPECT = {
    "name": "Grace Hopper",
    "email": "Grace@Navy.example",
    "company": "US Navy",
    "phone": "+1 555 0100",
    "notes": "Needs a quote for 200 seats; budget approved, decision this quarter.",
}

_VALUES = ("Grace", "navy.example", "US Navy", "555 0100", "budget")


async def _open(db: Database, tenant_id: str, table: SealedTable, row: Any) -> dict[str, Any]:
    async with db.tenant_session(tenant_id) as session:
        return await open_fields(session, table, row)


def _validate(tool: str, arguments: dict[str, object]) -> None:
    load_builtin_tools().get(tool).input_model.model_validate(arguments)  # type: ignore[union-attr]


def test_scores_follow_fixed_rules() -> None:
    assert score_lead("a@gmail.com", "", None, "") == (0, [])
    best, reasons = score_lead("grace@navy.example", "US Navy", "+1 555", "quote, seats, budget, decision, demo, buy")
    assert best == 100 and reasons[:3] == ["company named", "business email domain", "phone number given"]
    assert score_lead("grace@navy.example", "Navy", None, "")[0] == 50
    # Words count once each and only as words.
    assert score_lead("a@gmail.com", "", None, "budget budget budgeting")[0] == 7


async def test_capture_records_once_and_upserts_the_crm(
    db: Database, tenant: str, other_tenant: str, make_ctx: MakeContext
) -> None:
    ctx = await make_ctx(tenant, key="capture-1")
    captured = await run_tool(ctx, "leads.capture", PROSPECT)
    assert captured == await run_tool(ctx, "leads.capture", PROSPECT)
    assert captured.status == "new"
    [lead] = await rows(db, tenant, f"SELECT source, score, email_hash, phone_hash, {LEADS.columns} FROM leads")
    # SQL sees no clear value: the columns are blank, the sealed bytes hold none of it.
    assert (lead.name, lead.email, lead.company, lead.phone, lead.notes) == ("", "", "", None, "")
    assert not any(value.lower().encode() in bytes(lead.fields_sealed).lower() for value in _VALUES)
    opened = await _open(db, tenant, LEADS, lead)
    assert (opened["email"], opened["company"], lead.score) == ("grace@navy.example", "US Navy", None)
    assert opened["phone"] == PROSPECT["phone"] and opened["notes"] == PROSPECT["notes"]
    assert lead.source == f"conversation:{ctx.conversation_id}"
    async with db.tenant_session(tenant) as session:
        assert bytes(lead.email_hash) == await email_hash(session, tenant, "GRACE@navy.example ")
        assert bytes(lead.phone_hash) == await phone_hash(session, tenant, "+1 (555) 0100")
    [contact] = await rows(db, tenant, f"SELECT {CRM_CONTACTS.columns}, email_hash FROM sandbox_crm_contacts")
    assert (contact.email, contact.payload) == ("", {})
    assert bytes(contact.email_hash) == bytes(lead.email_hash)
    contact_fields = await _open(db, tenant, CRM_CONTACTS, contact)
    assert (contact.id, contact_fields["email"]) == (captured.crm_contact_id, "grace@navy.example")
    assert contact_fields["payload"]["lead_id"] == captured.lead_id
    # Another tenant's keys do not open the row, even handed the sealed bytes.
    with pytest.raises(FieldUnavailable):
        await _open(db, other_tenant, LEADS, SimpleNamespace(**{**lead._mapping, "tenant_id": other_tenant}))


async def test_a_crm_outage_is_retried_without_a_second_lead(db: Database, tenant: str, make_ctx: MakeContext) -> None:
    await inject_fault(db, tenant, "crm.upsert_contact", mode="transient")
    ctx = await make_ctx(tenant, key="capture-2")
    with pytest.raises(ToolTransientError):
        await run_tool(ctx, "leads.capture", PROSPECT)
    captured = await run_tool(ctx, "leads.capture", PROSPECT)
    assert await scalar(db, tenant, "SELECT count(*) FROM leads") == 1
    assert await scalar(db, tenant, "SELECT count(*) FROM sandbox_crm_contacts") == 1
    assert captured.crm_contact_id


async def test_score_and_qualify_store_their_verdicts(db: Database, tenant: str, make_ctx: MakeContext) -> None:
    strong = await run_tool(await make_ctx(tenant), "leads.capture", PROSPECT)
    weak = await run_tool(
        await make_ctx(tenant), "leads.capture", {"name": "Anon", "email": "anon@gmail.com", "notes": "just looking"}
    )
    scored = await run_tool(await make_ctx(tenant), "leads.score", {"lead_id": strong.lead_id})
    assert scored.score == 93 and "business email domain" in scored.reasons
    qualified = await run_tool(await make_ctx(tenant), "leads.qualify", {"lead_id": strong.lead_id})
    disqualified = await run_tool(await make_ctx(tenant), "leads.qualify", {"lead_id": weak.lead_id, "threshold": 10})
    assert (qualified.status, qualified.score) == ("qualified", 93)
    assert (disqualified.status, disqualified.score, disqualified.threshold) == ("disqualified", 0, 10)
    stored = {r.id: (r.status, r.score) for r in await rows(db, tenant, "SELECT id, status, score FROM leads")}
    assert stored == {strong.lead_id: ("qualified", 93), weak.lead_id: ("disqualified", 0)}


async def test_another_tenants_lead_does_not_exist_here(tenant: str, other_tenant: str, make_ctx: MakeContext) -> None:
    theirs = await run_tool(await make_ctx(other_tenant), "leads.capture", PROSPECT)
    for tool in ("leads.score", "leads.qualify"):
        with pytest.raises(ToolNotFound):
            await run_tool(await make_ctx(tenant), tool, {"lead_id": theirs.lead_id})


@pytest.mark.parametrize(
    "change",
    [
        {"email": "not-an-email"},
        {"email": "a@b"},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "line\nbreak"},
        {"phone": "call me maybe"},
        {"notes": "n" * 2001},
        {"source": "spoofed"},
    ],
)
def test_lead_input_is_validated(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _validate("leads.capture", {**PROSPECT, **change})


@pytest.mark.parametrize("arguments", [{"lead_id": "1"}, {"lead_id": str(uuid.uuid4()), "threshold": 101}])
def test_lead_references_are_validated(arguments: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _validate("leads.qualify", arguments)


TICKET = {"subject": "Mug arrived broken", "body": "The handle came off.\nPhotos attached.", "priority": "high"}


async def test_a_ticket_is_created_once_per_key_and_linked(db: Database, demo: DemoData, make_ctx: MakeContext) -> None:
    ctx = await make_ctx(demo.tenant_id, demo.ada_id, key="ticket-1")
    ticket = await run_tool(ctx, "tickets.create", TICKET)
    assert ticket == await run_tool(ctx, "tickets.create", TICKET)
    assert (ticket.kind, ticket.status, ticket.priority) == ("customer", "open", "high")
    [row] = await rows(db, demo.tenant_id, f"SELECT conversation_id, customer_id, {TICKETS.columns} FROM tickets")
    assert (row.id, row.conversation_id, row.customer_id) == (ticket.ticket_id, ctx.conversation_id, demo.ada_id)
    assert (row.subject, row.body) == ("", "") and b"handle" not in bytes(row.fields_sealed)
    assert await _open(db, demo.tenant_id, TICKETS, row) == {"subject": TICKET["subject"], "body": TICKET["body"]}
    assert ticket.subject == TICKET["subject"]
    ada = await run_tool(ctx, "customers.lookup")
    assert ada.open_ticket_count == 1


async def test_ticket_creation_meets_its_injected_fault(db: Database, tenant: str, make_ctx: MakeContext) -> None:
    await inject_fault(db, tenant, "tickets.create", mode="fail")
    with pytest.raises(InjectedFailure):
        await run_tool(await make_ctx(tenant), "tickets.create", TICKET)
    assert await scalar(db, tenant, "SELECT count(*) FROM tickets") == 0


async def test_escalation_opens_an_escalated_ticket_once(db: Database, demo: DemoData, make_ctx: MakeContext) -> None:
    ctx = await make_ctx(demo.tenant_id, demo.bob_id, key="escalate-1")
    arguments = {"reason": "Customer asks for a human about a billing dispute."}
    escalated = await run_tool(ctx, "tickets.escalate", arguments)
    assert escalated == await run_tool(ctx, "tickets.escalate", arguments)
    assert (escalated.kind, escalated.status, escalated.priority) == ("escalation", "escalated", "high")
    assert escalated.subject.startswith("Escalation: Customer asks")
    assert await scalar(db, demo.tenant_id, "SELECT count(*) FROM tickets") == 1


async def test_escalating_a_ticket_of_the_conversation(db: Database, demo: DemoData, make_ctx: MakeContext) -> None:
    conversation = str(uuid.uuid4())
    ctx = await make_ctx(demo.tenant_id, demo.ada_id, conversation_id=conversation)
    ticket = await run_tool(ctx, "tickets.create", {**TICKET, "priority": "low"})
    later = await make_ctx(demo.tenant_id, demo.ada_id, conversation_id=conversation)
    escalated = await run_tool(
        later, "tickets.escalate", {"reason": "no answer in 3 days", "ticket_id": ticket.ticket_id}
    )
    assert (escalated.ticket_id, escalated.status, escalated.priority) == (ticket.ticket_id, "escalated", "high")
    # Another conversation cannot escalate (or learn about) this ticket.
    stranger = await make_ctx(demo.tenant_id, demo.bob_id)
    with pytest.raises(ToolNotFound):
        await run_tool(stranger, "tickets.escalate", {"reason": "x", "ticket_id": ticket.ticket_id})
    assert await scalar(db, demo.tenant_id, "SELECT count(*) FROM tickets") == 1


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("tickets.create", {**TICKET, "priority": "critical"}),
        ("tickets.create", {**TICKET, "subject": ""}),
        ("tickets.create", {**TICKET, "subject": "a\x00b"}),
        ("tickets.create", {**TICKET, "body": "b" * 5001}),
        ("tickets.create", {**TICKET, "kind": "escalation"}),
        ("tickets.create", {**TICKET, "customer_id": str(uuid.uuid4())}),
        ("tickets.escalate", {"reason": ""}),
        ("tickets.escalate", {"reason": "x", "ticket_id": "not-a-uuid"}),
    ],
)
def test_ticket_input_is_validated(tool: str, arguments: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _validate(tool, arguments)
