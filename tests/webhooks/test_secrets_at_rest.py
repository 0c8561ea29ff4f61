"""Endpoint signing secrets at rest: sealed in `webhook_endpoints`, opened only to sign, bound to their row.

The raw row holds neither the `whsec_` text nor the secret's bytes; the opened secrets sign deliveries that the
reference `standardwebhooks` library verifies (both during a rotation); a ciphertext copied into another
endpoint's or another tenant's row does not open, and an attempt with such a row sends nothing.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from activities.webhooks import WebhookActivities
from contracts.webhooks import AttemptInput, AttemptOutcome
from core.crypto.keyring import Keyring
from core.crypto.secretbox import SecretUnavailable
from db.database import Database, run_sql
from db.ids import new_id
from tests.webhooks.endpoints import make_endpoint
from tests.webhooks.receiver import Receiver
from webhooks import management, store
from webhooks.secrets import EndpointSecrets
from webhooks.signing import SECRET_PREFIX, signed_headers

URL = "http://127.0.0.1:9/hooks"


async def _rotate(db: Database, keyring: Keyring, tenant_id: str, endpoint_id: str, now: datetime) -> str:
    secret, sealed = await EndpointSecrets(keyring).issue(tenant_id, endpoint_id)
    async with db.tenant_session(tenant_id) as session:
        assert await management.rotate_secret(session, tenant_id, endpoint_id, sealed, now) is not None
    return secret


async def _reload(db: Database, tenant_id: str, endpoint_id: str) -> store.Endpoint:
    async with db.tenant_session(tenant_id) as session:
        endpoint = await store.get_endpoint(session, tenant_id, endpoint_id)
    assert endpoint is not None
    return endpoint


async def test_the_row_holds_no_secret_in_clear(db: Database, keyring: Keyring, tenant_id: str) -> None:
    endpoint, first = await make_endpoint(db, keyring, tenant_id, URL)
    second = await _rotate(db, keyring, tenant_id, endpoint.id, datetime.now(UTC))
    async with db.tenant_session(tenant_id) as session:
        row = (
            await run_sql(
                session,
                "SELECT secret_ciphertext, previous_secret_ciphertext, CAST(row_to_json(e) AS text) AS whole"
                " FROM webhook_endpoints e WHERE id = :id",
                {"id": endpoint.id},
            )
        ).one()
        types = dict(
            (
                await run_sql(
                    session,
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_name = 'webhook_endpoints' AND column_name LIKE '%secret_ciphertext'",
                )
            ).all()
        )
    assert types == {"secret_ciphertext": "bytea", "previous_secret_ciphertext": "bytea"}
    stored = [bytes(row.secret_ciphertext), bytes(row.previous_secret_ciphertext)]
    assert SECRET_PREFIX not in row.whole
    for secret in (first, second):
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        assert secret.removeprefix(SECRET_PREFIX) not in row.whole
        for blob in stored:
            assert SECRET_PREFIX.encode() not in blob
            assert secret.encode() not in blob and raw not in blob
    assert stored[0] != stored[1]


async def test_opened_secrets_sign_what_the_reference_library_verifies(
    db: Database, keyring: Keyring, tenant_id: str
) -> None:
    endpoint, old = await make_endpoint(db, keyring, tenant_id, URL)
    now = datetime.now(UTC)
    secrets = EndpointSecrets(keyring)
    assert await secrets.live(tenant_id, endpoint, now) == [old]
    new = await _rotate(db, keyring, tenant_id, endpoint.id, now)
    rotated = await _reload(db, tenant_id, endpoint.id)
    live = await secrets.live(tenant_id, rotated, now)
    assert live == [new, old]
    body = b'{"type":"invoice.paid"}'
    headers = signed_headers("msg_1", now, body, live)
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "invoice.paid"}
    # After the grace only the new secret signs.
    assert await secrets.live(tenant_id, rotated, now + timedelta(hours=25)) == [new]


async def _copy_secret(db: Database, source: store.Endpoint, tenant_id: str, endpoint_id: str) -> store.Endpoint:
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "UPDATE webhook_endpoints SET secret_ciphertext = :s WHERE id = :id",
            {"s": bytes(source.secret_ciphertext), "id": endpoint_id},
        )
    return await _reload(db, tenant_id, endpoint_id)


async def test_a_secret_copied_to_another_endpoint_or_tenant_does_not_open(
    db: Database, keyring: Keyring, tenant_id: str, other_tenant_id: str
) -> None:
    source, _ = await make_endpoint(db, keyring, tenant_id, URL)
    sibling, _ = await make_endpoint(db, keyring, tenant_id, URL)
    foreign, _ = await make_endpoint(db, keyring, other_tenant_id, URL)
    secrets = EndpointSecrets(keyring)
    now = datetime.now(UTC)
    for owner, target in ((tenant_id, sibling), (other_tenant_id, foreign)):
        moved = await _copy_secret(db, source, owner, target.id)
        assert bytes(moved.secret_ciphertext) == bytes(source.secret_ciphertext)
        with pytest.raises(SecretUnavailable):
            await secrets.live(owner, moved, now)
    # Another tenant's id on the original row opens nothing either (its data key is another one).
    with pytest.raises(SecretUnavailable):
        await secrets.live(other_tenant_id, source, now)


async def test_an_attempt_with_a_moved_secret_sends_nothing(db: Database, keyring: Keyring, tenant_id: str) -> None:
    with Receiver() as receiver:
        source, _ = await make_endpoint(db, keyring, tenant_id, receiver.url("/a"))
        target, _ = await make_endpoint(db, keyring, tenant_id, receiver.url("/b"))
        await _copy_secret(db, source, tenant_id, target.id)
        async with db.tenant_session(tenant_id) as session:
            message_id = await store.record_message(
                session, tenant_id, event_type="webhook.ping", idempotency_key=new_id(), payload={"ping": True}
            )
            delivery_id = new_id()
            await store.create_delivery(
                session, tenant_id, endpoint_id=target.id, message_id=message_id, delivery_id=delivery_id
            )
        # `attempt` talks to Postgres and the receiver only; no workflow client is needed for it.
        acts = WebhookActivities(db, None, task_queue="unused", keyring=keyring, allow_private_targets=True)  # type: ignore[arg-type]
        result = await acts.attempt(AttemptInput(tenant_id=tenant_id, delivery_id=delivery_id, attempt=1))
        await acts.close()
    assert result.outcome == AttemptOutcome.ABANDONED and "does not open" in (result.error or "")
    assert receiver.received == []
