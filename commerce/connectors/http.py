"""HTTP connectors: the tenant's own payments, shipping and CRM services, reached over signed JSON POSTs.

Every request is `POST <base_url><path>` with a JSON body, the call's `Idempotency-Key` (the service must
answer a repeated key with its first answer) and `X-Aiaas-Signature: t=<unix seconds>,v1=<hex>`, where the hex
is HMAC-SHA256 under the tenant's signing secret of `"<t>.<body>"`: the service checks it (`verify_signature`
does exactly that) and refuses old timestamps, so nobody else can make it act and a captured request cannot
be replayed later. Answers are validated before use.

Failures map to retry decisions: a timeout, a transport error, 5xx, 408 or 429 is a `ConnectorError`
(retried); any other 4xx is `ConnectorRejected` (the service said no; its `{"error": {"type", "message"}}`
names why); a redirect is a misconfiguration, never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import structlog
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from commerce.connectors.base import (
    Charge,
    ConnectorError,
    ConnectorRejected,
    Contact,
    Refund,
    ShipmentLabel,
    check_amount,
    check_key,
)

log = structlog.get_logger("aiaas.connectors")

SIGNATURE_HEADER = "X-Aiaas-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_TOLERANCE_SECONDS = 300
MAX_RESPONSE_BYTES = 262_144
PATHS = {
    "payments.charge": "/payments/charge",
    "payments.refund": "/payments/refund",
    "payments.net_charged": "/payments/net-charged",
    "payments.charges": "/payments/charges",
    "shipments.create": "/shipments/create",
    "shipments.cancel": "/shipments/cancel",
    "crm.upsert_contact": "/crm/contacts/upsert",
}
_RETRYABLE_4XX = frozenset({408, 425, 429})

CONNECTOR_REQUESTS = Counter(
    "aiaas_connector_requests_total", "Requests to tenants' HTTP connectors", ["operation", "outcome"]
)

M = TypeVar("M", bound=BaseModel)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiving service checks: a valid HMAC of this body, made recently."""
    parts = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not given:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, body, int(timestamp)).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class _Answer(BaseModel):
    # Services may add fields; the ones used are checked strictly.
    model_config = ConfigDict(extra="ignore", strict=True)


class _Ref(_Answer):
    id: str = Field(min_length=1, max_length=200)


class _ChargeOut(_Ref):
    amount_cents: int = Field(ge=0)
    refunded_cents: int = Field(default=0, ge=0)


class _RefundOut(_Ref):
    amount_cents: int = Field(ge=0)


class _NetOut(_Answer):
    net_charged_cents: int


class _ChargesOut(_Answer):
    charges: list[_ChargeOut] = Field(max_length=1000)


class _LabelOut(_Answer):
    external_ref: str = Field(min_length=1, max_length=200)
    carrier: str = Field(min_length=1, max_length=100)
    tracking_number: str = Field(min_length=1, max_length=100)


class _Empty(_Answer):
    """An answer that carries nothing but its acknowledgement."""


class _ErrorOut(_Answer):
    model_config = ConfigDict(extra="ignore")
    type: str = Field(default="ConnectorRejected", max_length=64)
    message: str = Field(default="", max_length=500)


class _HttpConnector:
    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        secret: str,
        timeout_seconds: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._secret = secret
        self._timeout = timeout_seconds
        self._clock = clock

    def __repr__(self) -> str:  # never the secret, not even in a traceback's locals
        return f"{type(self).__name__}({self._base!r})"

    async def _post(self, operation: str, payload: dict[str, Any], answer: type[M], key: str | None = None) -> M:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body, int(self._clock())),
            "User-Agent": "aiaas-connector/1",
        }
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        try:
            async with self._client.stream(
                "POST", self._base + PATHS[operation], content=body, headers=headers, timeout=self._timeout
            ) as response:
                raw = await _read_capped(response)
        except httpx.TimeoutException as exc:
            raise self._failed(operation, "timeout", f"{operation} timed out after {self._timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise self._failed(operation, "transport", f"{operation} failed: {type(exc).__name__}") from exc
        status = response.status_code
        if status >= 500 or status in _RETRYABLE_4XX:
            raise self._failed(operation, "server_error", f"{operation} answered {status}")
        if 300 <= status < 400:
            CONNECTOR_REQUESTS.labels(operation=operation, outcome="redirect").inc()
            raise ConnectorRejected("ConnectorMisconfigured", f"{operation} answered a redirect ({status})")
        if status >= 400:
            CONNECTOR_REQUESTS.labels(operation=operation, outcome="rejected").inc()
            error = _error_of(raw)
            raise ConnectorRejected(error.type, error.message or f"{operation} was refused ({status})")
        try:
            parsed = answer.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            raise self._failed(operation, "invalid_answer", f"{operation} answered something unexpected") from exc
        CONNECTOR_REQUESTS.labels(operation=operation, outcome="ok").inc()
        return parsed

    def _failed(self, operation: str, outcome: str, message: str) -> ConnectorError:
        CONNECTOR_REQUESTS.labels(operation=operation, outcome=outcome).inc()
        log.warning("connector request failed", operation=operation, outcome=outcome)
        return ConnectorError(message, details={"operation": operation})


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise httpx.DecodingError("the connector's answer is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_of(raw: bytes) -> _ErrorOut:
    try:
        body = json.loads(raw)
        return _ErrorOut.model_validate(body.get("error") if isinstance(body, dict) else {})
    except (ValueError, ValidationError, AttributeError):
        return _ErrorOut()


class HttpPayments(_HttpConnector):
    async def charge(self, order_id: str, amount_cents: int, idempotency_key: str) -> Charge:
        key, amount = check_key(idempotency_key), check_amount(amount_cents)
        out = await self._post("payments.charge", {"order_id": order_id, "amount_cents": amount}, _ChargeOut, key)
        return Charge(id=out.id, amount_cents=out.amount_cents)

    async def refund(self, charge_id: str, order_id: str, amount_cents: int, idempotency_key: str) -> Refund:
        key, amount = check_key(idempotency_key), check_amount(amount_cents)
        payload = {"charge_id": charge_id, "order_id": order_id, "amount_cents": amount}
        out = await self._post("payments.refund", payload, _RefundOut, key)
        return Refund(id=out.id, amount_cents=out.amount_cents)

    async def net_charged(self, order_id: str) -> int:
        return (await self._post("payments.net_charged", {"order_id": order_id}, _NetOut)).net_charged_cents

    async def charges(self, order_id: str) -> list[Charge]:
        out = await self._post("payments.charges", {"order_id": order_id}, _ChargesOut)
        return [Charge(c.id, c.amount_cents, c.refunded_cents) for c in out.charges]


class HttpShipping(_HttpConnector):
    async def create_shipment(self, order_id: str, idempotency_key: str) -> ShipmentLabel:
        out = await self._post("shipments.create", {"order_id": order_id}, _LabelOut, check_key(idempotency_key))
        return ShipmentLabel(external_ref=out.external_ref, carrier=out.carrier, tracking_number=out.tracking_number)

    async def cancel_shipment(self, external_ref: str, idempotency_key: str) -> None:
        await self._post("shipments.cancel", {"external_ref": external_ref}, _Empty, check_key(idempotency_key))


class HttpCrm(_HttpConnector):
    async def upsert_contact(self, email: str, payload: dict[str, Any], idempotency_key: str) -> Contact:
        body = {"email": email, "payload": payload}
        out = await self._post("crm.upsert_contact", body, _Ref, check_key(idempotency_key))
        return Contact(id=out.id)
