"""What the platform asks of the external systems an agent's tools reach: payments, shipping and a CRM.

Each system is a Protocol with a sandbox implementation (`sandbox.py`, state in the tenant's own tables) and
an HTTP one (`http.py`, the tenant's own service). Every call that changes something takes an idempotency
key, and an implementation must answer a repeated key with the first call's result and never act twice:
tool activities and saga steps are retried by Temporal, and a retry must not charge a card again.

Errors say whether retrying can help: `ConnectorError` (the system was unreachable, slow or failing: retry)
or `ConnectorRejected` (it understood and said no: a declined card, an unknown charge: do not retry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agents.sdk import ToolError, ToolTransientError
from contracts.errors import ToolErrorType

SYSTEMS = ("payments", "shipping", "crm")
# The key the connectors dict carries the `Database` under, for `check_fault` in tools: `ctx.connector("db")`.
DB_KEY = "db"
_ERROR_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")


class ConnectorError(ToolTransientError):
    """The external system could not be reached or failed on its side; a later attempt may succeed."""

    type: str = ToolErrorType.CONNECTOR_ERROR
    retryable = True


class ConnectorRejected(ToolError):
    """The external system refused the request; `type` names why (`PaymentDeclined`, `ChargeNotFound`)."""

    retryable = False

    def __init__(self, type_: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        # Becomes the activity's error type, so it must be a plain identifier whatever a remote system sent.
        self.type = type_ if _ERROR_TYPE.fullmatch(type_ or "") else "ConnectorRejected"


@dataclass(frozen=True)
class Charge:
    id: str
    amount_cents: int
    # How much of this charge has been refunded so far (0 on a fresh charge).
    refunded_cents: int = 0

    @property
    def refundable_cents(self) -> int:
        return max(0, self.amount_cents - self.refunded_cents)


@dataclass(frozen=True)
class Refund:
    id: str
    amount_cents: int


@dataclass(frozen=True)
class ShipmentLabel:
    external_ref: str
    carrier: str
    tracking_number: str


@dataclass(frozen=True)
class Contact:
    id: str


@runtime_checkable
class PaymentsConnector(Protocol):
    async def charge(self, order_id: str, amount_cents: int, idempotency_key: str) -> Charge: ...

    async def refund(self, charge_id: str, order_id: str, amount_cents: int, idempotency_key: str) -> Refund: ...

    async def net_charged(self, order_id: str) -> int:
        """Charged minus refunded for the order, in cents."""
        ...

    async def charges(self, order_id: str) -> list[Charge]:
        """The order's charges, oldest first, each with what has been refunded of it."""
        ...


@runtime_checkable
class ShippingConnector(Protocol):
    async def create_shipment(self, order_id: str, idempotency_key: str) -> ShipmentLabel: ...

    async def cancel_shipment(self, external_ref: str, idempotency_key: str) -> None: ...


@runtime_checkable
class CrmConnector(Protocol):
    async def upsert_contact(self, email: str, payload: dict[str, Any], idempotency_key: str) -> Contact: ...


def check_key(idempotency_key: str) -> str:
    """Keys are derived from workflow and call ids; an empty one would make every call the same call."""
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 200:
        raise ConnectorRejected("InvalidIdempotencyKey", "an idempotency key of 1 to 200 characters is required")
    return idempotency_key


def check_amount(amount_cents: int) -> int:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ConnectorRejected("InvalidAmount", "amounts are positive whole cents")
    return amount_cents
