"""What re-anchoring leaves checkable, on the real database: an event altered afterwards still fails the chain at
that event; a chain re-hashed again behind the platform's back, a re-anchor whose statement was edited or whose
row was removed fail verification; the app role cannot rewrite history except through `audit.reanchor`, which
refuses a statement that misstates the change; and erasure reseals a tenant's old events before emptying them."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from sqlalchemy.exc import DBAPIError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.privacy import PrivacyActivities
from contracts.privacy import ErasureStepInput
from core.crypto.secretbox import build_keyring
from core.settings import Settings
from db.database import Database, run_sql
from policies.erasure.signing import ReportSigner
from policies.erasure.store import create_erasure
from tenancy.audit import COLUMNS, event_hash, hashed_fields
from tenancy.audit_read import entry_of, list_events
from tenancy.audit_reseal import ChainBroken, reseal_tenant
from tenancy.audit_sealing import SealedState
from tests.tenancy.test_audit_reseal import hashes, raw, verify, write_old_events

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
async def resealed(db: Database, two_tenants: tuple[str, str], migrated: Settings) -> str:
    tenant, _ = two_tenants
    await write_old_events(db, tenant, "orchid-tamper")
    await reseal_tenant(db, tenant, ReportSigner(build_keyring(db, migrated)), actor="test")
    assert (await verify(db, tenant)).ok
    return tenant


async def _as_owner(admin_db: Database, tenant: str, *statements: tuple[str, dict[str, object]]) -> None:
    """Statements run by the owner with the triggers off (each names `:t`, the tenant: the owner sees all)."""
    async with admin_db.tenant_session(tenant) as session:
        for table in ("events", "reanchors"):
            await run_sql(session, f"ALTER TABLE audit.{table} DISABLE TRIGGER refuse_update_delete")
        for sql, params in statements:
            await run_sql(session, sql, {**params, "t": tenant})
        for table in ("events", "reanchors"):
            await run_sql(session, f"ALTER TABLE audit.{table} ENABLE TRIGGER refuse_update_delete")


async def test_an_event_altered_after_re_anchoring_fails_the_chain_there(
    admin_db: Database, db: Database, resealed: str
) -> None:
    await _as_owner(
        admin_db, resealed, ("UPDATE audit.events SET actor = 'intruder' WHERE tenant_id = :t AND seq = 3", {})
    )
    async with db.tenant_session(resealed) as session:
        bad = (
            await run_sql(session, "SELECT id FROM audit.events WHERE tenant_id = :t AND seq = 3", {"t": resealed})
        ).scalar_one()
    result = await verify(db, resealed)
    assert (result.ok, result.first_bad_id) == (False, bad)


async def test_a_chain_re_hashed_again_behind_its_back_fails_its_re_anchor(
    admin_db: Database, db: Database, resealed: str
) -> None:
    # Every hash from the edit on recomputed: each event fits its predecessor, but not what the re-anchor signed.
    async with admin_db.tenant_session(resealed) as session:
        rows = (
            await run_sql(
                session,
                f"SELECT {COLUMNS} FROM audit.events WHERE tenant_id = :t ORDER BY seq",  # noqa: S608
                {"t": resealed},
            )
        ).all()
    entries = [entry_of(resealed, row) for row in rows]
    prev, updates = entries[1].hash, []
    for entry in entries[2:]:
        changed = replace(entry, actor="intruder") if entry.seq == 3 else entry
        prev = event_hash(prev, hashed_fields(changed))
        updates.append(
            (
                "UPDATE audit.events SET actor = :a, hash = :h WHERE tenant_id = :t AND seq = :s",
                {"a": changed.actor, "h": prev, "s": entry.seq},
            )
        )
    link = (
        "UPDATE audit.events e SET prev_hash = (SELECT hash FROM audit.events p WHERE p.tenant_id = :t"
        " AND p.seq = e.seq - 1) WHERE e.tenant_id = :t AND e.seq >= 3"
    )
    await _as_owner(admin_db, resealed, *updates, (link, {}))
    result = await verify(db, resealed)
    assert result.first_bad_id is None and not result.ok
    assert [check.problem for check in result.reanchored] == ["hashes"]


async def test_a_chain_already_broken_is_not_re_anchored(
    admin_db: Database, db: Database, two_tenants: tuple[str, str], migrated: Settings
) -> None:
    # Re-hashing a tampered chain would launder the change: the re-anchor refuses, and the break stays visible.
    tenant, _ = two_tenants
    await write_old_events(db, tenant, "orchid-broken")
    await _as_owner(
        admin_db, tenant, ("UPDATE audit.events SET actor = 'intruder' WHERE tenant_id = :t AND seq = 3", {})
    )
    before = await hashes(db, tenant)
    with pytest.raises(ChainBroken, match="does not verify at event"):
        await reseal_tenant(db, tenant, ReportSigner(build_keyring(db, migrated)), actor="test")
    assert await hashes(db, tenant) == before and "orchid-broken" in await raw(db, tenant)
    assert not (await verify(db, tenant)).ok
    # Erasure on such a tenant stops with the reason rather than erase around values it cannot reach.
    customer, erasure = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "INSERT INTO customers (id, tenant_id, email, name) VALUES (:id, :t, :e, 'Quill')",
            {"id": customer, "t": tenant, "e": f"{customer}@example.org"},
        )
        await create_erasure(session, tenant, erasure, customer, "test", "w")
    privacy = PrivacyActivities(db, None, None, build_keyring(db, migrated))  # type: ignore[arg-type]
    step = ErasureStepInput(tenant_id=tenant, erasure_id=erasure, customer_id=customer)
    with pytest.raises(ApplicationError, match="does not verify at event") as refused:
        await ActivityEnvironment().run(privacy.erase_database, step)
    assert refused.value.type == "AuditChainBroken" and refused.value.non_retryable


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        (
            "UPDATE audit.reanchors SET statement = jsonb_set(statement, '{resealed}', '[]') WHERE tenant_id = :t",
            "signature",
        ),
        ("UPDATE audit.reanchors SET new_hashes = old_hashes WHERE tenant_id = :t", "statement"),
        ("DELETE FROM audit.reanchors WHERE tenant_id = :t", None),
    ],
)
async def test_an_edited_or_removed_re_anchor_fails(
    admin_db: Database, db: Database, resealed: str, sql: str, problem: str | None
) -> None:
    await _as_owner(admin_db, resealed, (sql, {}))
    result = await verify(db, resealed)
    assert not result.ok and result.first_bad_id is None
    assert [check.problem for check in result.reanchored] == ([problem] if problem else [])


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit.events SET details = details - 'note' WHERE seq = 4",
        "SELECT set_config('aiaas.audit_reanchor_tenant', :t, true); UPDATE audit.events SET hash = repeat('a', 64)",
        "DELETE FROM audit.reanchors",
        "INSERT INTO audit.reanchors (tenant_id, first_seq, last_seq, prev_hash, old_head_hash, new_head_hash,"
        " old_hashes, new_hashes, statement, key_id, signature) SELECT tenant_id, 1, 1, prev_hash, old_head_hash,"
        " new_head_hash, old_hashes, new_hashes, statement, key_id, signature FROM audit.reanchors",
    ],
)
async def test_the_app_role_cannot_rewrite_history_itself(db: Database, two_tenants: tuple[str, str], sql: str) -> None:
    tenant, _ = two_tenants
    await write_old_events(db, tenant, "orchid-role")
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.tenant_session(tenant) as session:
            for statement in sql.split("; "):
                await run_sql(session, statement, {"t": tenant})


async def test_the_database_refuses_a_statement_that_misstates_the_change(
    db: Database, two_tenants: tuple[str, str], migrated: Settings
) -> None:
    tenant, _ = two_tenants
    await write_old_events(db, tenant, "orchid-lie")
    signer = ReportSigner(build_keyring(db, migrated))
    before = await hashes(db, tenant)
    with pytest.raises(DBAPIError, match="does not state this change"):
        async with db.tenant_session(tenant) as session:
            key_id = await signer.key_id(session, tenant)
            statement = {"tenant_id": tenant, "first_seq": 2, "last_seq": 4, "old_head_hash": "0" * 64}
            await run_sql(
                session,
                "SELECT audit.reanchor(:t, 2, ARRAY[repeat('a', 64), repeat('b', 64), repeat('c', 64)],"
                " ARRAY[2::bigint], ARRAY['{}'::jsonb], ARRAY['\\x01'::bytea], ARRAY['\\x01'::bytea], ARRAY[1],"
                " CAST(:s AS jsonb), :k, 'c2lnbmF0dXJl')",
                {"t": tenant, "s": json.dumps({**statement, "signed_with": key_id}), "k": key_id},
            )
    assert await hashes(db, tenant) == before


async def test_erasure_reseals_old_events_first_and_leaves_none_of_the_values(
    db: Database, two_tenants: tuple[str, str], migrated: Settings
) -> None:
    tenant, other = two_tenants
    customer, conversation, neighbour_conversation = (str(uuid.uuid4()) for _ in range(3))
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "INSERT INTO customers (id, tenant_id, email, name) VALUES (:id, :t, :e, 'Quill')",
            {"id": customer, "t": tenant, "e": f"{customer}@example.org"},
        )
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel, customer_id)"
            " VALUES (:id, :t, 'orders', 'api', :c)",
            {"id": conversation, "t": tenant, "c": customer},
        )
    await write_old_events(db, tenant, "orchid-target", conversation)
    await write_old_events(db, tenant, "orchid-neighbour", neighbour_conversation)
    await write_old_events(db, other, "orchid-target", conversation)
    erasure = str(uuid.uuid4())
    async with db.tenant_session(tenant) as session:
        await create_erasure(session, tenant, erasure, customer, "test", "w")
    privacy = PrivacyActivities(db, None, None, build_keyring(db, migrated))  # type: ignore[arg-type]
    step = ErasureStepInput(tenant_id=tenant, erasure_id=erasure, customer_id=customer)
    result = await ActivityEnvironment().run(privacy.erase_database, step)

    assert result.rows["audit.events"] == 2
    text = await raw(db, tenant)
    assert "orchid-target" not in text and "orchid-neighbour" not in text
    verified = await verify(db, tenant)
    assert verified.ok and [c.ok for c in verified.reanchored] == [True]
    async with db.tenant_session(tenant) as session:
        events = [e for e in await list_events(session, tenant, limit=50) if e.action.startswith("approval.")]
    states = {(e.details["conversation_id"], e.sealed_state) for e in events}
    assert states == {(conversation, SealedState.ERASED), (neighbour_conversation, SealedState.OPENED)}
    # Another tenant's chain is its own: not resealed, not erased.
    assert "orchid-target" in await raw(db, other) and (await verify(db, other)).reanchored == ()
