"""The sandbox connectors: idempotent by key, honest about what they refuse, and subject to injected faults."""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from agents.sdk import ToolTransientError
from agents.sealed_records import CRM_CONTACTS, open_fields
from commerce.connectors.base import (
    ConnectorRejected,
    CrmConnector,
    PaymentsConnector,
    ShippingConnector,
)
from commerce.connectors.faults import InjectedFailure, inject_fault
from commerce.connectors.sandbox import DECLINE_ABOVE_CENTS, SandboxCrm, SandboxPayments, SandboxShipping
from db.database import Database
from tests.activities.tools.conftest import rows, scalar


def _order() -> str:
    return str(uuid.uuid4())


def test_sandboxes_implement_the_protocols(db: Database) -> None:
    tenant = str(uuid.uuid4())
    assert isinstance(SandboxPayments(db, tenant), PaymentsConnector)
    assert isinstance(SandboxShipping(db, tenant), ShippingConnector)
    assert isinstance(SandboxCrm(db, tenant), CrmConnector)


async def test_a_repeated_charge_key_charges_once(db: Database, tenant: str) -> None:
    payments, order = SandboxPayments(db, tenant), _order()
    first = await payments.charge(order, 4200, "charge-1")
    again = await payments.charge(order, 4200, "charge-1")
    assert first == again and first.amount_cents == 4200
    assert await scalar(db, tenant, "SELECT count(*) FROM sandbox_payments WHERE order_id = :o", o=order) == 1
    assert await payments.net_charged(order) == 4200


async def test_concurrent_charges_with_one_key_charge_once(db: Database, tenant: str) -> None:
    payments, order = SandboxPayments(db, tenant), _order()
    results = await asyncio.gather(*(payments.charge(order, 999, "same-key") for _ in range(4)))
    assert len({r.id for r in results}) == 1
    assert await payments.net_charged(order) == 999


async def test_a_key_reused_for_another_request_is_refused(db: Database, tenant: str) -> None:
    payments, order = SandboxPayments(db, tenant), _order()
    await payments.charge(order, 100, "k")
    for other_order, amount in ((_order(), 100), (order, 101)):
        with pytest.raises(ConnectorRejected) as refused:
            await payments.charge(other_order, amount, "k")
        assert refused.value.type == "IdempotencyKeyReused" and not refused.value.retryable


@pytest.mark.parametrize("amount", [0, -5])
async def test_invalid_amounts_are_refused(db: Database, tenant: str, amount: int) -> None:
    with pytest.raises(ConnectorRejected) as refused:
        await SandboxPayments(db, tenant).charge(_order(), amount, "k")
    assert refused.value.type == "InvalidAmount"


async def test_charges_above_the_limit_are_declined(db: Database, tenant: str) -> None:
    payments, order = SandboxPayments(db, tenant), _order()
    with pytest.raises(ConnectorRejected) as declined:
        await payments.charge(order, DECLINE_ABOVE_CENTS + 1, "big")
    assert declined.value.type == "PaymentDeclined"
    assert await payments.net_charged(order) == 0


async def test_refunds_are_idempotent_and_never_exceed_the_charge(db: Database, tenant: str) -> None:
    payments, order = SandboxPayments(db, tenant), _order()
    charge = await payments.charge(order, 1000, "c")
    first = await payments.refund(charge.id, order, 600, "r1")
    assert first == await payments.refund(charge.id, order, 600, "r1")
    with pytest.raises(ConnectorRejected) as too_much:
        await payments.refund(charge.id, order, 401, "r2")
    assert too_much.value.type == "RefundExceedsCharge" and too_much.value.details == {"refundable_cents": 400}
    await payments.refund(charge.id, order, 400, "r3")
    assert await payments.net_charged(order) == 0
    [listed] = await payments.charges(order)
    assert (listed.id, listed.amount_cents, listed.refunded_cents, listed.refundable_cents) == (
        charge.id,
        1000,
        1000,
        0,
    )


async def test_concurrent_refunds_cannot_together_exceed_the_charge(db: Database, tenant: str) -> None:
    payments, order = SandboxPayments(db, tenant), _order()
    charge = await payments.charge(order, 1000, "c")
    outcomes = await asyncio.gather(
        *(payments.refund(charge.id, order, 400, f"r{i}") for i in range(4)), return_exceptions=True
    )
    assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 2
    assert all(isinstance(o, ConnectorRejected) for o in outcomes if isinstance(o, BaseException))
    assert await payments.net_charged(order) == 200


async def test_a_refund_names_its_charge_and_order(db: Database, tenant: str) -> None:
    payments, order = SandboxPayments(db, tenant), _order()
    charge = await payments.charge(order, 500, "c")
    for charge_id, order_id in ((charge.id, _order()), (str(uuid.uuid4()), order), ("x" * 5000, order)):
        with pytest.raises(ConnectorRejected) as refused:
            await payments.refund(charge_id, order_id, 100, f"r-{uuid.uuid4()}")
        assert refused.value.type == "ChargeNotFound"


async def test_another_tenants_charge_does_not_exist_here(db: Database, tenant: str, other_tenant: str) -> None:
    order = _order()
    charge = await SandboxPayments(db, tenant).charge(order, 500, "c")
    with pytest.raises(ConnectorRejected) as refused:
        await SandboxPayments(db, other_tenant).refund(charge.id, order, 100, "r")
    assert refused.value.type == "ChargeNotFound"
    assert await SandboxPayments(db, other_tenant).net_charged(order) == 0
    assert await SandboxPayments(db, other_tenant).charges(order) == []


@pytest.mark.parametrize("key", ["", "k" * 201])
async def test_keys_must_be_given(db: Database, tenant: str, key: str) -> None:
    with pytest.raises(ConnectorRejected) as refused:
        await SandboxPayments(db, tenant).charge(_order(), 100, key)
    assert refused.value.type == "InvalidIdempotencyKey"


async def test_shipments_are_created_once_per_key_and_cancel_idempotently(db: Database, tenant: str) -> None:
    shipping, order = SandboxShipping(db, tenant), _order()
    label = await shipping.create_shipment(order, "s1")
    assert label == await shipping.create_shipment(order, "s1")
    assert label.tracking_number.startswith("SBX") and label.carrier
    other = await shipping.create_shipment(order, "s2")
    assert other.external_ref != label.external_ref
    await shipping.cancel_shipment(label.external_ref, "cancel-1")
    await shipping.cancel_shipment(label.external_ref, "cancel-1")
    statuses = await rows(
        db, tenant, "SELECT id, status FROM sandbox_shipments WHERE order_id = :o ORDER BY id", o=order
    )
    assert dict(statuses) == {label.external_ref: "cancelled", other.external_ref: "created"}
    with pytest.raises(ConnectorRejected) as missing:
        await shipping.cancel_shipment(str(uuid.uuid4()), "cancel-2")
    assert missing.value.type == "ShipmentNotFound"


async def test_crm_upserts_one_contact_per_address(db: Database, tenant: str) -> None:
    crm = SandboxCrm(db, tenant)
    first = await crm.upsert_contact("Lead@Example.com", {"name": "Lea"}, "u1")
    assert first == await crm.upsert_contact("lead@example.com", {"name": "Lea"}, "u1")
    second = await crm.upsert_contact("lead@example.com", {"company": "Acme"}, "u2")
    assert second == first
    [row] = await rows(
        db, tenant, f"SELECT {CRM_CONTACTS.columns} FROM sandbox_crm_contacts WHERE id = :id", id=first.id
    )
    assert (row.email, row.payload) == ("", {}) and b"Acme" not in bytes(row.fields_sealed)
    async with db.tenant_session(tenant) as session:
        opened = await open_fields(session, CRM_CONTACTS, row)
    assert opened == {"email": "lead@example.com", "payload": {"name": "Lea", "company": "Acme"}}
    with pytest.raises(ConnectorRejected) as reused:
        await crm.upsert_contact("someone@example.com", {}, "u1")
    assert reused.value.type == "IdempotencyKeyReused"
    with pytest.raises(ConnectorRejected) as invalid:
        await crm.upsert_contact("not an address", {}, "u3")
    assert invalid.value.type == "InvalidEmail"


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("payments.charge", lambda db, t: SandboxPayments(db, t).charge(str(uuid.uuid4()), 100, "k")),
        ("shipments.create", lambda db, t: SandboxShipping(db, t).create_shipment(str(uuid.uuid4()), "k")),
        ("shipments.cancel", lambda db, t: SandboxShipping(db, t).cancel_shipment(str(uuid.uuid4()), "k")),
        ("crm.upsert_contact", lambda db, t: SandboxCrm(db, t).upsert_contact("a@example.com", {}, "k")),
    ],
)
async def test_every_operation_meets_injected_faults_first(
    db: Database, tenant: str, operation: str, call: Callable[[Database, str], Awaitable[object]]
) -> None:
    await inject_fault(db, tenant, operation, mode="fail")
    await inject_fault(db, tenant, operation, mode="transient")
    with pytest.raises(InjectedFailure):
        await call(db, tenant)
    with pytest.raises(ToolTransientError):
        await call(db, tenant)
    assert await scalar(db, tenant, "SELECT count(*) FROM sandbox_payments") == 0
    assert await scalar(db, tenant, "SELECT count(*) FROM sandbox_shipments") == 0
    assert await scalar(db, tenant, "SELECT count(*) FROM sandbox_crm_contacts") == 0


async def test_a_refund_meets_its_fault_and_its_retry_refunds_once(db: Database, tenant: str) -> None:
    payments, order = SandboxPayments(db, tenant), _order()
    charge = await payments.charge(order, 300, "c")
    await inject_fault(db, tenant, "payments.refund", mode="transient")
    with pytest.raises(ToolTransientError):
        await payments.refund(charge.id, order, 300, "r")
    assert await payments.net_charged(order) == 300
    await payments.refund(charge.id, order, 300, "r")
    await payments.refund(charge.id, order, 300, "r")
    assert await payments.net_charged(order) == 0
