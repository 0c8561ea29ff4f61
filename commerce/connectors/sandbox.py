"""Sandbox connectors: payments, shipping and a CRM that keep their state in the tenant's `sandbox_*` tables.

They behave like the real thing where it matters to the platform: every call that changes something is
idempotent by key (a repeated key returns the first result; a key reused for a different request is
refused), refunds never exceed their charge, and each operation meets injected faults first
(`faults.check_fault`), so tests and demos can make them fail, fail transiently or slow down.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agents.sealed_records import CRM_CONTACTS, open_fields, seal_fields
from commerce.connectors.base import (
    Charge,
    ConnectorRejected,
    Contact,
    Refund,
    ShipmentLabel,
    check_amount,
    check_key,
)
from commerce.connectors.faults import check_fault
from core.crypto.fields import email_hash
from db.database import Database, run_sql
from db.ids import new_id

# The sandbox declines charges above this, so the decline path can be shown without injecting anything.
DECLINE_ABOVE_CENTS = 10_000_000
SANDBOX_CARRIER = "Sandbox Post"
MAX_PAYLOAD_BYTES = 16_384
MAX_REF_CHARS = 200


def _reused(key: str) -> ConnectorRejected:
    return ConnectorRejected("IdempotencyKeyReused", "the idempotency key was already used for another request")


def tracking_number(shipment_id: str) -> str:
    return "SBX" + hashlib.sha256(shipment_id.encode()).hexdigest()[:12].upper()


class _Sandbox:
    def __init__(self, db: Database, tenant_id: str) -> None:
        self._db = db
        self._tid = tenant_id

    async def _fault(self, operation: str) -> None:
        await check_fault(self._db, self._tid, operation)


class SandboxPayments(_Sandbox):
    async def charge(self, order_id: str, amount_cents: int, idempotency_key: str) -> Charge:
        key, amount = check_key(idempotency_key), check_amount(amount_cents)
        await self._fault("payments.charge")
        async with self._db.tenant_session(self._tid) as session:
            prior = (
                await run_sql(
                    session,
                    "SELECT id, kind, order_id, amount_cents FROM sandbox_payments WHERE idempotency_key = :key",
                    {"key": key},
                )
            ).first()
            if prior is None:
                if amount > DECLINE_ABOVE_CENTS:
                    raise ConnectorRejected("PaymentDeclined", "the sandbox declines charges above its limit")
                inserted = (
                    await run_sql(
                        session,
                        "INSERT INTO sandbox_payments (id, tenant_id, kind, order_id, amount_cents, idempotency_key) "
                        "VALUES (:id, :tid, 'charge', :order_id, :amount, :key) "
                        "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id",
                        {"id": new_id(), "tid": self._tid, "order_id": order_id, "amount": amount, "key": key},
                    )
                ).scalar()
                if inserted is not None:
                    return Charge(id=str(inserted), amount_cents=amount)
                prior = (
                    await run_sql(
                        session,
                        "SELECT id, kind, order_id, amount_cents FROM sandbox_payments WHERE idempotency_key = :key",
                        {"key": key},
                    )
                ).one()
        if (prior.kind, prior.order_id, prior.amount_cents) != ("charge", order_id, amount):
            raise _reused(key)
        return Charge(id=str(prior.id), amount_cents=int(prior.amount_cents))

    async def refund(self, charge_id: str, order_id: str, amount_cents: int, idempotency_key: str) -> Refund:
        key, amount = check_key(idempotency_key), check_amount(amount_cents)
        await self._fault("payments.refund")
        async with self._db.tenant_session(self._tid) as session:
            # Locking the charge serialises refunds of it, so two concurrent ones cannot both fit the rest.
            charge = (
                await run_sql(
                    session,
                    "SELECT order_id, amount_cents FROM sandbox_payments "
                    "WHERE id = :charge_id AND kind = 'charge' FOR UPDATE",
                    {"charge_id": str(charge_id)[:MAX_REF_CHARS]},
                )
            ).first()
            if charge is None or charge.order_id != order_id:
                raise ConnectorRejected("ChargeNotFound", "no such charge for this order")
            prior = (
                await run_sql(
                    session,
                    "SELECT id, kind, charge_id, amount_cents FROM sandbox_payments WHERE idempotency_key = :key",
                    {"key": key},
                )
            ).first()
            if prior is not None:
                if (prior.kind, prior.charge_id, prior.amount_cents) != ("refund", charge_id, amount):
                    raise _reused(key)
                return Refund(id=str(prior.id), amount_cents=int(prior.amount_cents))
            refunded = (
                await run_sql(
                    session,
                    "SELECT COALESCE(SUM(amount_cents), 0) FROM sandbox_payments "
                    "WHERE charge_id = :charge_id AND kind = 'refund'",
                    {"charge_id": charge_id},
                )
            ).scalar_one()
            if int(refunded) + amount > int(charge.amount_cents):
                raise ConnectorRejected(
                    "RefundExceedsCharge",
                    "the refund is larger than what is left of the charge",
                    details={"refundable_cents": int(charge.amount_cents) - int(refunded)},
                )
            refund_id = new_id()
            await run_sql(
                session,
                "INSERT INTO sandbox_payments "
                "(id, tenant_id, kind, order_id, amount_cents, charge_id, idempotency_key) "
                "VALUES (:id, :tid, 'refund', :order_id, :amount, :charge_id, :key)",
                {
                    "id": refund_id,
                    "tid": self._tid,
                    "order_id": order_id,
                    "amount": amount,
                    "charge_id": charge_id,
                    "key": key,
                },
            )
        return Refund(id=refund_id, amount_cents=amount)

    async def net_charged(self, order_id: str) -> int:
        async with self._db.tenant_session(self._tid) as session:
            net = (
                await run_sql(
                    session,
                    "SELECT COALESCE(SUM(CASE kind WHEN 'charge' THEN amount_cents ELSE -amount_cents END), 0) "
                    "FROM sandbox_payments WHERE order_id = :order_id",
                    {"order_id": order_id},
                )
            ).scalar_one()
        return int(net)

    async def charges(self, order_id: str) -> list[Charge]:
        async with self._db.tenant_session(self._tid) as session:
            rows = await run_sql(
                session,
                "SELECT c.id, c.amount_cents, COALESCE(SUM(r.amount_cents), 0) AS refunded "
                "FROM sandbox_payments c LEFT JOIN sandbox_payments r "
                "ON r.tenant_id = c.tenant_id AND r.charge_id = c.id AND r.kind = 'refund' "
                "WHERE c.order_id = :order_id AND c.kind = 'charge' "
                "GROUP BY c.id, c.amount_cents, c.created_at ORDER BY c.created_at, c.id",
                {"order_id": order_id},
            )
            return [Charge(str(r.id), int(r.amount_cents), int(r.refunded)) for r in rows]


class SandboxShipping(_Sandbox):
    async def create_shipment(self, order_id: str, idempotency_key: str) -> ShipmentLabel:
        key = check_key(idempotency_key)
        await self._fault("shipments.create")
        async with self._db.tenant_session(self._tid) as session:
            await run_sql(
                session,
                "INSERT INTO sandbox_shipments (id, tenant_id, order_id, idempotency_key) "
                "VALUES (:id, :tid, :order_id, :key) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
                {"id": new_id(), "tid": self._tid, "order_id": order_id, "key": key},
            )
            row = (
                await run_sql(
                    session, "SELECT id, order_id FROM sandbox_shipments WHERE idempotency_key = :key", {"key": key}
                )
            ).one()
        if row.order_id != order_id:
            raise _reused(key)
        return ShipmentLabel(external_ref=str(row.id), carrier=SANDBOX_CARRIER, tracking_number=tracking_number(row.id))

    async def cancel_shipment(self, external_ref: str, idempotency_key: str) -> None:
        check_key(idempotency_key)
        await self._fault("shipments.cancel")
        # Cancelling is idempotent by nature: a second cancel finds the shipment cancelled and changes nothing.
        async with self._db.tenant_session(self._tid) as session:
            found = (
                await run_sql(
                    session,
                    "UPDATE sandbox_shipments SET status = 'cancelled', "
                    "updated_at = CASE WHEN status = 'cancelled' THEN updated_at ELSE now() END "
                    "WHERE id = :ref RETURNING id",
                    {"ref": str(external_ref)[:MAX_REF_CHARS]},
                )
            ).first()
        if found is None:
            raise ConnectorRejected("ShipmentNotFound", "no such shipment")


class SandboxCrm(_Sandbox):
    async def upsert_contact(self, email: str, payload: dict[str, Any], idempotency_key: str) -> Contact:
        key = check_key(idempotency_key)
        address = email.strip().lower() if isinstance(email, str) else ""
        if not 3 <= len(address) <= 254 or "@" not in address:
            raise ConnectorRejected("InvalidEmail", "a contact needs a valid email address")
        encoded = json.dumps(payload, sort_keys=True, default=str)
        if len(encoded) > MAX_PAYLOAD_BYTES:
            raise ConnectorRejected("PayloadTooLarge", f"contact payloads are limited to {MAX_PAYLOAD_BYTES} bytes")
        await self._fault("crm.upsert_contact")
        async with self._db.tenant_session(self._tid) as session:
            hashed = await email_hash(session, self._tid, address)
            prior = (
                await run_sql(
                    session,
                    "SELECT id, email_hash FROM sandbox_crm_contacts WHERE idempotency_key = :key",
                    {"key": key},
                )
            ).first()
            if prior is not None:
                if prior.email_hash is not None and bytes(prior.email_hash) != hashed:
                    raise _reused(key)
                return Contact(id=str(prior.id))
            # One contact per address: concurrent upserts of the same address queue here instead of racing.
            await run_sql(
                session,
                "SELECT pg_advisory_xact_lock(hashtextextended('aiaas.crm:' || :tid || ':' || encode(:h, 'hex'), 0))",
                {"tid": self._tid, "h": hashed},
            )
            existing = (
                await run_sql(
                    session,
                    f"SELECT {CRM_CONTACTS.columns} FROM sandbox_crm_contacts"  # noqa: S608
                    " WHERE email_hash = :h OR (fields_sealed IS NULL AND email = :email)"
                    " ORDER BY created_at LIMIT 1 FOR UPDATE",
                    {"h": hashed, "email": address},
                )
            ).first()
            if existing is not None:
                fields = await open_fields(session, CRM_CONTACTS, existing)
                merged = {"email": address, "payload": {**fields["payload"], **json.loads(encoded)}}
                await run_sql(
                    session,
                    "UPDATE sandbox_crm_contacts SET email = :email, payload = CAST(:payload AS jsonb),"
                    " fields_sealed = :fields_sealed, key_version = :key_version, email_hash = :email_hash"
                    " WHERE id = :id",
                    {
                        "id": existing.id,
                        **await seal_fields(session, self._tid, CRM_CONTACTS, str(existing.id), merged),
                    },
                )
                return Contact(id=str(existing.id))
            contact_id = new_id()
            fields = {"email": address, "payload": json.loads(encoded)}
            await run_sql(
                session,
                "INSERT INTO sandbox_crm_contacts (id, tenant_id, email, payload, fields_sealed, key_version,"
                " email_hash, idempotency_key) VALUES (:id, :tid, :email, CAST(:payload AS jsonb), :fields_sealed,"
                " :key_version, :email_hash, :key)",
                {
                    "id": contact_id,
                    "tid": self._tid,
                    "key": key,
                    **await seal_fields(session, self._tid, CRM_CONTACTS, contact_id, fields),
                },
            )
        return Contact(id=contact_id)
