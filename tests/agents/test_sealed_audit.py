"""The audit log's sealed part (`tenancy.audit_sealing`), on the real database: an approval's arguments and
a decision's note are in no clear column yet open for readers; erasure empties them and the chain still
verifies; events from before sealing verify as they did; the database lets nothing else change; a ciphertext
swapped behind its back fails verification; key rotation re-wraps without touching the chain."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities
from activities.key_rotation import KeyRotationActivities
from activities.tenant_lifecycle import EXPORT_OPENERS
from contracts.agents import ApprovalRecordInput, ApprovalStatus
from contracts.key_rotation import ResealInput, RetireInput, RotateKeyInput
from core.crypto.fields import FieldSealer
from core.events import EventBus
from core.settings import Settings
from db.database import Database, run_sql
from policies.erasure.store import create_erasure, erase_customer
from tenancy.audit import AuditEntry, hashed_fields, record_event
from tenancy.audit_read import list_events, verify_chain
from tenancy.audit_sealing import SealedState
from tenancy.tenant_data import export_tenant

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def _customer(db: Database, tenant: str, label: str) -> dict[str, str]:
    """A customer and a conversation of theirs."""
    person = {"customer": str(uuid.uuid4()), "conversation": str(uuid.uuid4()), "secret": f"orchid-{label}"}
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "INSERT INTO customers (id, tenant_id, email, name) VALUES (:id, :t, :e, :n)",
            {"id": person["customer"], "t": tenant, "e": f"{person['customer']}@example.org", "n": label},
        )
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel, customer_id)"
            " VALUES (:id, :t, 'orders', 'api', :c)",
            {"id": person["conversation"], "t": tenant, "c": person["customer"]},
        )
    return person


async def _approval(db: Database, bus: EventBus, tenant: str, person: dict[str, str]) -> str:
    """A refund put to staff and denied, through the approvals activity, arguments and note quoting them."""
    approval = str(uuid.uuid4())
    base: dict[str, Any] = {
        "tenant_id": tenant,
        "conversation_id": person["conversation"],
        "approval_id": approval,
        "message_id": str(uuid.uuid4()),
        "call_id": "call_0",
        "tool": "orders.refund",
        "arguments": {"reason": f"{person['secret']} refund to IBAN", "amount_cents": 10_500},
    }
    activities, env = ApprovalActivities(db, bus), ActivityEnvironment()
    await env.run(activities.record, ApprovalRecordInput(**base, status=ApprovalStatus.PENDING, timeout_seconds=60))
    resolved = ApprovalRecordInput(
        **base, status=ApprovalStatus.DENIED, note=f"spoke to {person['secret']}", decided_by="user:staff"
    )
    await env.run(activities.record, resolved)
    return approval


async def _events(db: Database, tenant: str, approval: str) -> list[AuditEntry]:
    async with db.tenant_session(tenant) as session:
        return [e for e in await list_events(session, tenant, limit=200) if e.target == approval]


async def _raw(db: Database, tenant: str) -> str:
    async with db.tenant_session(tenant) as session:
        return str((await run_sql(session, "SELECT string_agg(e::text, '|') FROM audit.events e")).scalar_one())


async def _verify(db: Database, tenant: str) -> tuple[bool, int | None]:
    async with db.tenant_session(tenant) as session:
        result = await verify_chain(session, tenant)
    return result.ok, result.first_bad_id


async def test_arguments_and_notes_are_sealed_and_opened_for_readers(db: Database, bus: EventBus, tenant: str) -> None:
    person = await _customer(db, tenant, "target")
    approval = await _approval(db, bus, tenant, person)
    requested, resolved = sorted(await _events(db, tenant, approval), key=lambda e: e.seq)
    assert requested.action == "approval.requested" and resolved.action == "approval.denied"
    assert requested.private == {"arguments": {"reason": "orchid-target refund to IBAN", "amount_cents": 10_500}}
    assert resolved.private == {"note": "spoke to orchid-target"}
    assert {requested.sealed_state, resolved.sealed_state} == {SealedState.OPENED}
    # The clear details keep ids only; the hash covers the ciphertext's digest.
    assert requested.details["conversation_id"] == person["conversation"] and "arguments" not in requested.details
    assert "sealed_sha256" in hashed_fields(requested) and "note" not in resolved.details
    raw = await _raw(db, tenant)
    assert "orchid-target" not in raw and "IBAN" not in raw
    assert await _verify(db, tenant) == (True, None)


async def test_erasure_empties_the_sealed_part_and_the_chain_still_verifies(
    db: Database, bus: EventBus, tenant: str
) -> None:
    async with db.tenant_session(tenant) as session:
        # An event from before sealing existed (no sealed part) hashes and verifies as it always did.
        await record_event(session, tenant_id=tenant, actor="test", action="test.legacy", details={"n": 1})
    target, neighbour = await _customer(db, tenant, "target"), await _customer(db, tenant, "neighbour")
    erased_approval = await _approval(db, bus, tenant, target)
    kept_approval = await _approval(db, bus, tenant, neighbour)
    async with db.tenant_session(tenant) as session:
        [legacy] = await list_events(session, tenant, action="test.legacy")
    assert legacy.sealed_sha256 is None and "sealed_sha256" not in hashed_fields(legacy)

    erasure = str(uuid.uuid4())
    async with db.tenant_session(tenant) as session:
        await create_erasure(session, tenant, erasure, target["customer"], "test", "w")
    async with db.tenant_session(tenant) as session:
        rows, _, _ = await erase_customer(session, erasure, target["customer"], lambda *_: None)
    assert rows["audit.events"] == 2

    for event in await _events(db, tenant, erased_approval):
        assert (event.private, event.sealed_state, event.sealed, event.sealed_key) == (
            {},
            SealedState.ERASED,
            None,
            None,
        )
        assert event.sealed_sha256 is not None  # the digest the chain covers stays
    kept = await _events(db, tenant, kept_approval)
    assert [e.sealed_state for e in kept] == [SealedState.OPENED, SealedState.OPENED]
    assert await _verify(db, tenant) == (True, None)
    # The app role may empty a sealed part by hand, as erasure does: the chain still verifies.
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "UPDATE audit.events SET sealed = NULL, sealed_key = NULL WHERE details->>'conversation_id' = :c",
            {"c": neighbour["conversation"]},
        )
    assert await _verify(db, tenant) == (True, None)


@pytest.mark.parametrize(
    "change",
    [
        "details = '{}'::jsonb",
        "sealed = sealed || '\\x00'::bytea",
        "actor = 'someone else'",
    ],
)
async def test_the_database_lets_only_the_sealed_part_go(db: Database, bus: EventBus, tenant: str, change: str) -> None:
    person = await _customer(db, tenant, "target")
    approval = await _approval(db, bus, tenant, person)
    with pytest.raises(DBAPIError):
        async with db.tenant_session(tenant) as session:
            await run_sql(session, f"UPDATE audit.events SET {change} WHERE target = :a", {"a": approval})  # noqa: S608
    assert [e.sealed_state for e in await _events(db, tenant, approval)] == [SealedState.OPENED] * 2


async def test_a_ciphertext_swapped_behind_its_back_is_found(
    db: Database, bus: EventBus, tenant: str, migrated: Settings
) -> None:
    one, two = await _customer(db, tenant, "one"), await _customer(db, tenant, "two")
    first, second = await _approval(db, bus, tenant, one), await _approval(db, bus, tenant, two)
    owner = Database(migrated.database_url or "", pool_size=1)
    try:
        async with owner.tenant_session(tenant) as session:
            await run_sql(session, "ALTER TABLE audit.events DISABLE TRIGGER refuse_update_delete")
            await run_sql(
                session,
                "UPDATE audit.events SET sealed = (SELECT sealed FROM audit.events WHERE target = :b"
                " AND action = 'approval.requested') WHERE target = :a AND action = 'approval.requested'",
                {"a": first, "b": second},
            )
            await run_sql(session, "ALTER TABLE audit.events ENABLE TRIGGER refuse_update_delete")
    finally:
        await owner.close()
    swapped = next(e for e in await _events(db, tenant, first) if e.action == "approval.requested")
    # Bound to its own sequence number, the copy does not open, and the chain names the event.
    assert swapped.sealed_state is SealedState.UNAVAILABLE
    assert await _verify(db, tenant) == (False, swapped.id)


async def test_key_rotation_rewraps_without_touching_the_chain(db: Database, bus: EventBus, tenant: str) -> None:
    person = await _customer(db, tenant, "target")
    approval = await _approval(db, bus, tenant, person)
    before = {e.seq: (e.hash, e.sealed) for e in await _events(db, tenant, approval)}
    async with db.tenant_session(tenant) as session:
        version = await FieldSealer(session, tenant).active_version()
    env, keys = ActivityEnvironment(), KeyRotationActivities(db)
    target = (await env.run(keys.rotate, RotateKeyInput(tenant_id=tenant, above_version=version))).version
    assert (await env.run(keys.reseal, ResealInput(tenant_id=tenant, target_version=target, batch_size=50))).done
    retire = RetireInput(tenant_id=tenant, actor="test", target_version=target, workflow_id="w")
    assert (await env.run(keys.retire, retire)).retired_versions == list(range(1, target))
    events = await _events(db, tenant, approval)
    assert {e.seq: (e.hash, e.sealed) for e in events} == before
    assert [e.sealed_state for e in events] == [SealedState.OPENED] * 2
    assert {e.private.get("note") for e in events if e.private} >= {"spoke to orchid-target"}
    async with db.tenant_session(tenant) as session:
        versions = (
            await run_sql(session, "SELECT DISTINCT key_version FROM audit.events WHERE sealed_key IS NOT NULL")
        ).scalars()
        assert set(versions) == {target}
    assert await _verify(db, tenant) == (True, None)


async def test_a_tenant_export_holds_the_sealed_details_opened(
    db: Database, bus: EventBus, tenant: str, tmp_path: Path
) -> None:
    person = await _customer(db, tenant, "target")
    approval = await _approval(db, bus, tenant, person)
    done = await export_tenant(db, tenant, tmp_path / "export", heartbeat=lambda *_: None, openers=EXPORT_OPENERS)
    with gzip.open(Path(done.path) / "audit.events.jsonl.gz", "rt") as handle:
        events = [json.loads(line) for line in handle]
    denied = next(e for e in events if e["target"] == approval and e["action"] == "approval.denied")
    assert denied["sealed_details"] == {"note": "spoke to orchid-target"} and denied["sealed_state"] == "opened"
    # The leaving tenant gets no keys: no ciphertext or wrapped key in the archive, the digest for the chain.
    assert "sealed" not in denied and "sealed_key" not in denied and len(denied["sealed_sha256"]) == 64
