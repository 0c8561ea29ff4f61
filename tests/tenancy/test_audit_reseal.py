"""Re-anchoring old audit chains (`tenancy.audit_reseal`, migration 0041) on the real database: events written as
before sealing, with the customer's values in clear details, are resealed batch by batch; the chain verifies
with every re-anchor's signature checked; a holder of an old head hash finds it in the signed statement; a run
stopped between batches resumes, a second run changes nothing, another tenant's chain is not touched."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.exc import DBAPIError
from temporalio.testing import ActivityEnvironment

from activities.key_rotation import KeyRotationActivities
from contracts.key_rotation import ResealInput
from core.crypto.secretbox import build_keyring
from core.settings import Settings
from db.database import Database, run_sql
from policies.erasure.signing import ReportSigner, canonical, public_key
from tenancy.audit import record_event
from tenancy.audit_read import list_events, verify_chain
from tenancy.audit_reseal import in_clear, reseal_batch, reseal_tenant
from tenancy.audit_sealing import SealedState

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def write_old_events(db: Database, tenant: str, secret: str, conversation: str | None = None) -> str:
    """An approval requested and denied, recorded as before sealing: arguments and note in clear details,
    between events that hold nothing of a customer. Returns the approval id."""
    approval = str(uuid.uuid4())
    ids = {"conversation_id": conversation or str(uuid.uuid4()), "tool": "orders.refund"}
    async with db.tenant_session(tenant) as session:
        await record_event(session, tenant_id=tenant, actor="user:a", action="key.created", details={"n": 1})
        await record_event(
            session, tenant_id=tenant, actor="workflow", action="approval.requested", target=approval,
            details={**ids, "arguments": {"reason": f"{secret} refund", "amount_cents": 900}},
        )  # fmt: skip
        await record_event(session, tenant_id=tenant, actor="user:a", action="key.revoked", details={"n": 2})
        await record_event(
            session, tenant_id=tenant, actor="user:staff", action="approval.denied", target=approval,
            details={**ids, "note": f"spoke to {secret}"},
        )  # fmt: skip
    return approval


async def raw(db: Database, tenant: str) -> str:
    async with db.tenant_session(tenant) as session:
        return str((await run_sql(session, "SELECT string_agg(e::text, '|') FROM audit.events e")).scalar_one())


async def hashes(db: Database, tenant: str) -> dict[int, str]:
    async with db.tenant_session(tenant) as session:
        rows = await run_sql(session, "SELECT seq, hash FROM audit.events ORDER BY seq")
        return {int(r.seq): r.hash for r in rows}


async def verify(db: Database, tenant: str) -> Any:
    async with db.tenant_session(tenant) as session:
        return await verify_chain(session, tenant)


@pytest.fixture
def signer(db: Database, migrated: Settings) -> ReportSigner:
    return ReportSigner(build_keyring(db, migrated))


async def test_old_events_are_sealed_and_the_chain_re_anchored(
    db: Database, two_tenants: tuple[str, str], signer: ReportSigner
) -> None:
    tenant, _ = two_tenants
    approval = await write_old_events(db, tenant, "orchid-old")
    assert "orchid-old" in await raw(db, tenant)
    assert (await verify(db, tenant)).ok
    exported_head = (await hashes(db, tenant))[4]  # what an auditor kept before
    await write_old_events(db, tenant, "orchid-later")

    done = await reseal_tenant(db, tenant, signer, actor="cli:ops", batch_size=3)

    # Four clear events in batches of three: two re-anchors, each with its chain event.
    assert [r.resealed for r in done] == [3, 1]
    assert "orchid" not in await raw(db, tenant)
    result = await verify(db, tenant)
    assert result.ok and result.checked == 10
    assert [(c.id, c.ok, c.first_seq, c.last_seq) for c in result.reanchored] == [
        (done[0].id, True, 2, 8),
        (done[1].id, True, 8, 9),
    ]
    async with db.tenant_session(tenant) as session:
        events = {e.seq: e for e in await list_events(session, tenant, limit=50)}
        row = (await run_sql(session, "SELECT * FROM audit.reanchors WHERE id = :i", {"i": done[0].id})).one()
        public = await public_key(session, row.key_id)
    # Readers open what was moved, exactly as post-0033 events.
    assert events[2].private == {"arguments": {"reason": "orchid-old refund", "amount_cents": 900}}
    assert events[4].private == {"note": "spoke to orchid-old"} and "note" not in events[4].details
    assert events[4].sealed_state is SealedState.OPENED and events[4].target == approval
    assert events[9].action == "audit.reanchored" and events[9].details["reanchor_id"] == done[0].id
    # Whoever kept the old head of seq 4 finds it among the signed old hashes, and the signature is ours.
    assert public is not None
    Ed25519PublicKey.from_public_bytes(public).verify(base64.b64decode(row.signature), canonical(row.statement))
    old = bytes(row.old_hashes)
    assert old[(4 - row.first_seq) * 32 : (5 - row.first_seq) * 32].hex() == exported_head
    assert row.statement["tenant_id"] == tenant and row.statement["resealed"] == [2, 4, 6]


async def test_a_second_run_changes_nothing(db: Database, two_tenants: tuple[str, str], signer: ReportSigner) -> None:
    tenant, _ = two_tenants
    await write_old_events(db, tenant, "orchid-twice")
    assert len(await reseal_tenant(db, tenant, signer, actor="test")) == 1
    before = await hashes(db, tenant)
    assert await reseal_tenant(db, tenant, signer, actor="test") == []
    assert await hashes(db, tenant) == before


async def test_a_run_stopped_between_batches_resumes(
    db: Database, two_tenants: tuple[str, str], signer: ReportSigner
) -> None:
    tenant, _ = two_tenants
    await write_old_events(db, tenant, "orchid-crash")
    await write_old_events(db, tenant, "orchid-crash2")
    async with db.tenant_session(tenant) as session:
        assert await reseal_batch(session, tenant, signer, actor="test", limit=2) is not None
    # The next batch dies before it commits: nothing of it stays, the committed batch verifies.
    with pytest.raises(RuntimeError):
        async with db.tenant_session(tenant) as session:
            assert await reseal_batch(session, tenant, signer, actor="test", limit=1) is not None
            raise RuntimeError("worker killed")
    async with db.tenant_session(tenant) as session:
        assert len(await in_clear(session, tenant, 100)) == 2
    assert (await verify(db, tenant)).ok
    assert [r.resealed for r in await reseal_tenant(db, tenant, signer, actor="test")] == [2]
    result = await verify(db, tenant)
    assert result.ok and len(result.reanchored) == 2 and "orchid" not in await raw(db, tenant)


async def test_another_tenant_s_chain_is_not_touched(
    db: Database, two_tenants: tuple[str, str], signer: ReportSigner
) -> None:
    tenant, other = two_tenants
    await write_old_events(db, tenant, "orchid-mine")
    await write_old_events(db, other, "orchid-theirs")
    theirs = await hashes(db, other)
    await reseal_tenant(db, tenant, signer, actor="test")
    assert await hashes(db, other) == theirs and "orchid-theirs" in await raw(db, other)
    assert (await verify(db, other)).reanchored == ()
    # Re-anchoring is for the bound tenant only; and a session bound to one tenant cannot reseal another.
    with pytest.raises(DBAPIError, match="not bound to tenant"):
        async with db.tenant_session(tenant) as session:
            await run_sql(
                session,
                "SELECT audit.reanchor(:o, 1, ARRAY[repeat('a', 64)], ARRAY[1::bigint], ARRAY['{}'::jsonb],"
                " ARRAY['\\x00'::bytea], ARRAY['\\x00'::bytea], ARRAY[1], '{}'::jsonb, 'k', 's')",
                {"o": other},
            )
    with pytest.raises(ValueError, match="bound to its tenant"):
        async with db.tenant_session(tenant) as session:
            await reseal_batch(session, other, signer, actor="test")


async def test_the_offboarding_purge_takes_the_re_anchors_with_the_events(
    db: Database, two_tenants: tuple[str, str], signer: ReportSigner
) -> None:
    tenant, other = two_tenants
    for each in (tenant, other):
        await write_old_events(db, each, "orchid-purge")
        await reseal_tenant(db, each, signer, actor="test")
    async with db.tenant_session(tenant) as session:
        # The re-anchors are append-only for the app role, as the events are.
        with pytest.raises(DBAPIError, match="permission denied"):
            async with session.begin_nested():
                await run_sql(session, "DELETE FROM audit.reanchors WHERE tenant_id = :t", {"t": tenant})
        await run_sql(session, "SELECT lifecycle_set_status(:t, 'active', 'offboarding', now())", {"t": tenant})
        assert (await run_sql(session, "SELECT audit.purge_tenant(:t)", {"t": tenant})).scalar_one() == 5
        assert (await run_sql(session, "SELECT count(*) FROM audit.reanchors")).scalar_one() == 0
    async with db.tenant_session(other) as session:
        assert (await run_sql(session, "SELECT count(*) FROM audit.reanchors")).scalar_one() == 1
    assert (await verify(db, other)).ok


async def test_the_key_rotation_s_reseal_step_re_anchors_old_events(
    db: Database, two_tenants: tuple[str, str], signer: ReportSigner
) -> None:
    # `aiaas data-key rotate --seal-only`: the reseal step at the active version seals what is still in clear.
    tenant, _ = two_tenants
    await write_old_events(db, tenant, "orchid-rotation")
    keys, env = KeyRotationActivities(db, audit_signer=signer), ActivityEnvironment()
    version = (await env.run(keys.active, tenant)).version
    result = await env.run(keys.reseal, ResealInput(tenant_id=tenant, target_version=version, batch_size=1))
    assert result.done and "orchid-rotation" not in await raw(db, tenant)
    verified = await verify(db, tenant)
    assert verified.ok and [c.resealed for c in verified.reanchored] == [1, 1]
    async with db.tenant_session(tenant) as session:
        actors = {e.actor for e in await list_events(session, tenant, action="audit.reanchored")}
    assert actors == {"workflow:key-rotation"}
