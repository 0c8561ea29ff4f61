"""HTTP connectors against a real local service: signed requests, idempotency keys, and every failure mapped
to the right retry decision. Also the per-tenant configuration: secrets sealed at rest, the factory's choice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from commerce.connectors.base import (
    ConnectorError,
    ConnectorRejected,
    CrmConnector,
    PaymentsConnector,
    ShippingConnector,
)
from commerce.connectors.config import SecretBox, build_keyring, delete_setting, list_settings, save_setting
from commerce.connectors.factory import ConnectorFactory
from commerce.connectors.http import HttpCrm, HttpPayments, HttpShipping, sign, verify_signature
from commerce.connectors.sandbox import SandboxCrm, SandboxPayments, SandboxShipping
from core.settings import Settings
from db.database import Database, run_sql
from tests.activities.tools.conftest import MakeContext, rows, run_tool
from tests.activities.tools.connectors_service import FakeService, ServiceThread

SECRET = "whsec-test-0123456789abcdef"


@pytest.fixture(scope="module")
def running_service() -> Iterator[FakeService]:
    service = FakeService(secret=SECRET)
    thread = ServiceThread(service)
    thread.start()
    try:
        yield service
    finally:
        thread.stop()


@pytest.fixture
def service(running_service: FakeService) -> FakeService:
    running_service.reset()
    return running_service


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as http:
        yield http


def payments(
    client: httpx.AsyncClient, service: FakeService, mode: str = "ok", *, secret: str = SECRET, timeout: float = 5.0
) -> HttpPayments:
    return HttpPayments(client, f"{service.url}/{mode}", secret, timeout)


async def test_http_connectors_implement_the_protocols(client: httpx.AsyncClient) -> None:
    assert isinstance(HttpPayments(client, "http://x", SECRET, 1), PaymentsConnector)
    assert isinstance(HttpShipping(client, "http://x", SECRET, 1), ShippingConnector)
    assert isinstance(HttpCrm(client, "http://x", SECRET, 1), CrmConnector)


async def test_requests_are_signed_keyed_and_repeated_keys_answered_once(
    client: httpx.AsyncClient, service: FakeService
) -> None:
    connector, order = payments(client, service), str(uuid.uuid4())
    first = await connector.charge(order, 2500, "key-1")
    assert await connector.charge(order, 2500, "key-1") == first
    assert first.amount_cents == 2500 and len(service.charges) == 1
    assert [s.key for s in service.seen] == ["key-1", "key-1"]
    assert all(s.verified and s.content_type == "application/json" for s in service.seen)
    assert service.seen[0].path == "/payments/charge"
    assert service.seen[0].payload == {"amount_cents": 2500, "order_id": order}


async def test_every_operation_round_trips(client: httpx.AsyncClient, service: FakeService) -> None:
    pay, order = payments(client, service), str(uuid.uuid4())
    charge = await pay.charge(order, 1000, "c")
    refund = await pay.refund(charge.id, order, 300, "r")
    assert refund.amount_cents == 300
    assert await pay.net_charged(order) == 700
    [listed] = await pay.charges(order)
    assert (listed.id, listed.refunded_cents, listed.refundable_cents) == (charge.id, 300, 700)
    shipping = HttpShipping(client, f"{service.url}/ok", SECRET, 5.0)
    label = await shipping.create_shipment(order, "s")
    assert label.carrier == "Acme Freight" and label.tracking_number
    await shipping.cancel_shipment(label.external_ref, "sc")
    contact = await HttpCrm(client, f"{service.url}/ok", SECRET, 5.0).upsert_contact("a@example.com", {"x": 1}, "u")
    assert contact.id.startswith("ct_")
    # Reads carry no idempotency key; everything that acts does.
    keyed = {s.path: s.key for s in service.seen}
    assert keyed["/payments/net-charged"] is None and keyed["/payments/charges"] is None
    assert keyed["/shipments/cancel"] == "sc" and keyed["/crm/contacts/upsert"] == "u"
    assert all(s.verified for s in service.seen)


async def test_a_wrong_secret_is_refused_by_the_service(client: httpx.AsyncClient, service: FakeService) -> None:
    with pytest.raises(ConnectorRejected) as refused:
        await payments(client, service, secret="not-the-right-secret").charge(str(uuid.uuid4()), 100, "k")
    assert refused.value.type == "BadSignature" and not refused.value.retryable
    assert service.seen[0].verified is False and service.charges == {}


async def test_a_timeout_is_a_retryable_connector_error(client: httpx.AsyncClient, service: FakeService) -> None:
    with pytest.raises(ConnectorError) as failed:
        await payments(client, service, "slow", timeout=0.2).charge(str(uuid.uuid4()), 100, "k")
    assert failed.value.retryable and failed.value.type == "ConnectorError"
    assert "timed out" in str(failed.value)


@pytest.mark.parametrize("mode", ["error", "garbage", "huge"])
async def test_server_errors_and_bad_answers_are_retryable(
    client: httpx.AsyncClient, service: FakeService, mode: str
) -> None:
    with pytest.raises(ConnectorError):
        await payments(client, service, mode).charge(str(uuid.uuid4()), 100, "k")


async def test_a_4xx_is_a_rejection_with_the_services_error_type(
    client: httpx.AsyncClient, service: FakeService
) -> None:
    with pytest.raises(ConnectorRejected) as refused:
        await payments(client, service, "reject").charge(str(uuid.uuid4()), 100, "k")
    assert (refused.value.type, str(refused.value), refused.value.retryable) == (
        "PaymentDeclined",
        "card declined",
        False,
    )


async def test_a_redirect_is_never_followed(client: httpx.AsyncClient, service: FakeService) -> None:
    with pytest.raises(ConnectorRejected) as refused:
        await payments(client, service, "redirect").charge(str(uuid.uuid4()), 100, "k")
    assert refused.value.type == "ConnectorMisconfigured"
    assert len(service.seen) == 1


async def test_an_unreachable_service_is_retryable(client: httpx.AsyncClient) -> None:
    with pytest.raises(ConnectorError):
        await HttpPayments(client, "http://127.0.0.1:9", SECRET, 2.0).charge(str(uuid.uuid4()), 100, "k")


def test_signatures_verify_only_the_body_they_were_made_for() -> None:
    body, now = b'{"a":1}', 1_700_000_000
    header = sign(SECRET, body, now)
    assert verify_signature(SECRET, header, body, now=now)
    assert not verify_signature(SECRET, header, b'{"a":2}', now=now)
    assert not verify_signature("another-secret-value", header, body, now=now)
    assert not verify_signature(SECRET, header, body, now=now + 301)
    for broken in (None, "", "t=abc,v1=00", "v1=" + "0" * 64, header.replace("v1=", "v2=")):
        assert not verify_signature(SECRET, broken, body, now=now)


async def test_the_factory_uses_the_tenants_http_connector_with_its_opened_secret(
    db: Database, migrated: Settings, tenant: str, service: FakeService
) -> None:
    box = SecretBox(build_keyring(db, migrated))
    await save_setting(db, box, tenant, "payments", kind="http", base_url=f"{service.url}/ok", secret=SECRET)
    factory = ConnectorFactory(db, migrated, ttl_seconds=0)
    try:
        connectors = await factory.for_tenant(tenant)
        assert isinstance(connectors["payments"], HttpPayments)
        assert isinstance(connectors["shipping"], SandboxShipping) and isinstance(connectors["crm"], SandboxCrm)
        assert connectors["db"] is db
        await connectors["payments"].charge(str(uuid.uuid4()), 700, "k")  # type: ignore[attr-defined]
        assert [s.verified for s in service.seen] == [True]
        assert SECRET not in repr(connectors)
        await delete_setting(db, tenant, "payments")
        assert isinstance((await factory.for_tenant(tenant))["payments"], SandboxPayments)
    finally:
        await factory.close()


async def test_the_factory_caches_per_tenant_for_its_ttl(
    db: Database, migrated: Settings, tenant: str, service: FakeService
) -> None:
    factory = ConnectorFactory(db, migrated, ttl_seconds=3600)
    try:
        assert isinstance((await factory.for_tenant(tenant))["crm"], SandboxCrm)
        box = SecretBox(build_keyring(db, migrated))
        await save_setting(db, box, tenant, "crm", kind="http", base_url=f"{service.url}/ok", secret=SECRET)
        assert isinstance((await factory.for_tenant(tenant))["crm"], SandboxCrm)
        factory.forget(tenant)
        assert isinstance((await factory.for_tenant(tenant))["crm"], HttpCrm)
    finally:
        await factory.close()


async def test_secrets_are_sealed_per_tenant_and_system(
    db: Database, migrated: Settings, tenant: str, other_tenant: str, service: FakeService
) -> None:
    box = SecretBox(build_keyring(db, migrated))
    saved = await save_setting(db, box, tenant, "crm", kind="http", base_url=f"{service.url}/ok", secret=SECRET)
    assert saved.has_secret and saved.kind == "http"
    [(sealed,)] = await rows(db, tenant, "SELECT secret_ciphertext FROM connector_configs WHERE system = 'crm'")
    assert SECRET.encode() not in bytes(sealed)
    assert await box.open(tenant, "crm", sealed) == SECRET
    # Moved to another system's row, the ciphertext no longer opens: that connector becomes unavailable.
    await save_setting(db, box, tenant, "shipping", kind="http", base_url=f"{service.url}/ok", secret=SECRET)
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "UPDATE connector_configs SET secret_ciphertext = :sealed WHERE system = 'shipping'",
            {"sealed": bytes(sealed)},
        )
    factory = ConnectorFactory(db, migrated, ttl_seconds=0)
    try:
        connectors = await factory.for_tenant(tenant)
        assert isinstance(connectors["crm"], HttpCrm)
        with pytest.raises(ConnectorError):
            await connectors["shipping"].create_shipment(str(uuid.uuid4()), "k")  # type: ignore[attr-defined]
        # Another tenant sees none of it.
        assert [s.kind for s in await list_settings(db, other_tenant)] == ["sandbox"] * 3
        assert isinstance((await factory.for_tenant(other_tenant))["crm"], SandboxCrm)
    finally:
        await factory.close()


async def test_keeping_the_stored_secret_and_needing_one(
    db: Database, migrated: Settings, tenant: str, service: FakeService
) -> None:
    box = SecretBox(build_keyring(db, migrated))
    with pytest.raises(ValueError, match="secret"):
        await save_setting(db, box, tenant, "payments", kind="http", base_url=f"{service.url}/ok")
    await save_setting(db, box, tenant, "payments", kind="http", base_url=f"{service.url}/ok", secret=SECRET)
    updated = await save_setting(
        db, box, tenant, "payments", kind="http", base_url=f"{service.url}/ok", timeout_seconds=3
    )
    assert (updated.has_secret, updated.timeout_seconds) == (True, 3.0)
    back = await save_setting(db, box, tenant, "payments", kind="sandbox")
    assert (back.kind, back.base_url, back.has_secret) == ("sandbox", None, False)


async def test_a_tool_reaches_the_tenants_crm_over_http(
    db: Database, migrated: Settings, tenant: str, make_ctx: MakeContext, service: FakeService
) -> None:
    box = SecretBox(build_keyring(db, migrated))
    await save_setting(db, box, tenant, "crm", kind="http", base_url=f"{service.url}/ok", secret=SECRET)
    ctx = await make_ctx(tenant, key="lead-call-1")
    arguments = {"name": "Grace", "email": "grace@navy.example", "company": "Navy"}
    captured = await run_tool(ctx, "leads.capture", arguments)
    assert captured == await run_tool(ctx, "leads.capture", arguments)
    assert captured.crm_contact_id.startswith("ct_")
    upserts = [s for s in service.seen if s.path == "/crm/contacts/upsert"]
    assert len({s.key for s in upserts}) == 1 and all(s.verified for s in upserts)
    assert upserts[0].payload["payload"]["lead_id"] == captured.lead_id
