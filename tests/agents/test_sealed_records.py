"""Leads, CRM contacts, tickets and approvals at rest: no clear value in SQL, rows from before sealing sealed by
key rotation (hashes filled, old versions retired), a tenant export opened, another tenant's keys refused."""

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
from agents.sealed_records import APPROVALS, LEADS, TABLES, TICKETS, SealedTable, open_fields, seal_fields
from contracts.key_rotation import ResealInput, RetireInput, RotateKeyInput
from core.crypto.fields import FieldSealer, FieldUnavailable, email_hash, phone_hash
from db.database import Database, run_sql
from tenancy.tenant_data import export_tenant

NAME, EMAIL, PHONE, NOTE = "Ada Quill", "ada.quill@example.org", "+44 20 7946 0321", "wants 40 seats, budget 9k"
NEEDLES = ("Ada Quill", "ada.quill", "7946", "40 seats", "refund to IBAN")


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
