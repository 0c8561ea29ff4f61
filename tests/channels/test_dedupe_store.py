"""The deduplication claim and the sealed credentials on the suite's Postgres: concurrent deliveries of one
message id make one claim, a failed delivery gives it back, a dead one's claim is taken over, a submitted
one never again; another tenant sees none of it; a sealed secret moved to another channel does not open."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from channels import store
from channels.secrets import ChannelSecrets
from core.crypto.secretbox import SecretUnavailable, build_keyring
from core.settings import Settings
from db.database import Database, run_sql
from tenancy.tenant_admin import create_tenant


async def _tenant(db: Database, migrated: Settings) -> str:
    created = await create_tenant(
        db, name=f"Channels {uuid.uuid4().hex[:8]}", plan="pro", data_region="eu-central",
        pepper=migrated.api_key_pepper.get_secret_value(), actor="test",
    )  # fmt: skip
    return created.record.id


async def _channel(db: Database, tenant_id: str, sealed: bytes | None = None) -> str:
    channel_id = str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await store.create_channel(
            session, tenant_id, channel_id=channel_id, kind="sms", name="t", agent="support", provider_url="",
            settings={}, secret_ciphertext=sealed, token_ciphertext=None, public_key=None,
        )  # fmt: skip
    return channel_id


async def _claim(db: Database, tenant_id: str, channel_id: str, pmid: str) -> bool:
    async with db.tenant_session(tenant_id) as session:
        return await store.claim_delivery(session, tenant_id, channel_id, pmid, f"m-{pmid}")


async def test_one_claim_per_message_id(db: Database, migrated: Settings) -> None:
    tid = await _tenant(db, migrated)
    cid = await _channel(db, tid)
    claims = await asyncio.gather(*(_claim(db, tid, cid, "SM1") for _ in range(20)))
    assert sum(claims) == 1

    async with db.tenant_session(tid) as session:
        await store.release_claim(session, cid, "SM1")  # the submission failed
    assert await _claim(db, tid, cid, "SM1") is True
    assert await _claim(db, tid, cid, "SM1") is False

    async with db.tenant_session(tid) as session:  # the delivery holding it died two minutes ago
        await run_sql(session, "UPDATE channel_inbound SET claimed_at = now() - interval '2 minutes'")
    assert await _claim(db, tid, cid, "SM1") is True
    async with db.tenant_session(tid) as session:
        await store.mark_submitted(session, cid, "SM1", str(uuid.uuid4()))
        await run_sql(session, "UPDATE channel_inbound SET claimed_at = now() - interval '1 day'")
        await store.release_claim(session, cid, "SM1")  # a late failure report must not undo a submission
    assert await _claim(db, tid, cid, "SM1") is False

    other = await _tenant(db, migrated)
    async with db.tenant_session(other) as session:
        assert await store.get_channel(session, cid) is None
        seen = await run_sql(session, "SELECT COUNT(*) FROM channel_inbound")
        assert seen.scalar_one() == 0
        with pytest.raises(Exception, match="violates"):
            # Tenant B cannot file a claim against A's channel: the foreign key sees no such channel under B.
            await store.claim_delivery(session, other, cid, "SM2", "m")


async def test_sealed_secrets_are_bound_to_tenant_channel_and_field(db: Database, migrated: Settings) -> None:
    tid, other = await _tenant(db, migrated), await _tenant(db, migrated)
    box = ChannelSecrets(build_keyring(db, migrated))
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    sealed = await box.seal(tid, first, "secret", "twilio-auth-token")
    assert b"twilio-auth-token" not in sealed
    assert await box.open(tid, first, "secret", sealed) == "twilio-auth-token"
    for tenant, channel, field in ((tid, second, "secret"), (tid, first, "token"), (other, first, "secret")):
        with pytest.raises(SecretUnavailable):
            await box.open(tenant, channel, field, sealed)
    cid = await _channel(db, tid, sealed)
    async with db.tenant_session(tid) as session:
        raw = (await run_sql(session, "SELECT secret_ciphertext::text FROM channels WHERE id = :id", {"id": cid})).one()
    assert "twilio" not in str(raw[0])


async def test_the_retention_run_prunes_dedup_rows_past_the_providers_retry_window(
    db: Database, migrated: Settings
) -> None:
    from temporalio.testing import ActivityEnvironment

    from activities.privacy import INBOUND_TABLE, PrivacyActivities
    from contracts.privacy import EnforceRetentionInput
    from core.redis_clients import command_client

    tid, other = await _tenant(db, migrated), await _tenant(db, migrated)
    cid, other_cid = await _channel(db, tid), await _channel(db, other)
    for pmid in ("old-1", "old-2", "old-3", "week-old", "new"):
        assert await _claim(db, tid, cid, pmid)
    assert await _claim(db, other, other_cid, "old-1")
    age = "UPDATE channel_inbound SET created_at = now() - make_interval(days => :days) WHERE provider_message_id"
    for tenant in (tid, other):
        async with db.tenant_session(tenant) as session:
            await run_sql(session, f"{age} LIKE 'old-%'", {"days": 9})
            await run_sql(session, f"{age} = 'week-old'", {"days": 7})

    redis = command_client(migrated)
    try:
        privacy = PrivacyActivities(db, redis, None, build_keyring(db, migrated))  # type: ignore[arg-type]
        env = ActivityEnvironment()
        # Batches of 2 with one batch per call: more is left after the first call, none after the second.
        one_batch = EnforceRetentionInput(tenant_ids=[tid], batch_size=2, batches_per_call=1)
        first = await env.run(privacy.enforce_retention, one_batch)
        assert first.deleted[INBOUND_TABLE] == 2 and first.more == [tid]
        second = await env.run(privacy.enforce_retention, one_batch)
        assert second.deleted[INBOUND_TABLE] == 1 and second.more == [] and second.failed == []
    finally:
        await redis.aclose()

    async with db.tenant_session(tid) as session:
        left = (await run_sql(session, "SELECT provider_message_id FROM channel_inbound")).scalars().all()
    # Inside Meta's 7-day retry window a repeat still finds its row.
    assert sorted(left) == ["new", "week-old"]
    assert await _claim(db, tid, cid, "week-old") is False
    async with db.tenant_session(other) as session:
        assert (await run_sql(session, "SELECT count(*) FROM channel_inbound")).scalar_one() == 1
