"""Payment connectors: charge an invoice's amount with an idempotency key, as real processors take them.

`SandboxProcessor` (the default) keeps its own book in Postgres (`billing_sandbox_charges`): the first
request with a key decides the outcome and any repeat returns it, so a charge retried after a crash moves no
money twice. Its test payment methods follow Stripe's test cards: `pm_card_visa` succeeds,
`pm_card_chargeDeclined` is declined, anything else starting with `pm_card_` succeeds.

`HttpProcessor` speaks to a processor shaped like Stripe's PaymentIntents API: a form-encoded
`POST {base}/v1/payment_intents` with `confirm=true`, a bearer secret and the `Idempotency-Key` header. A 2xx
with `status: succeeded` is paid, a 402 card error is declined (the dunning schedule tries again later), and
any other answer or a network error raises so that the activity retries with the same key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

import httpx

from core.settings import Settings
from db.database import Database, run_sql

DECLINING_METHODS = frozenset({"pm_card_chargeDeclined", "pm_card_insufficientFunds"})


@dataclass(frozen=True)
class ChargeOutcome:
    succeeded: bool
    reference: str | None
    error: str | None = None


class ProcessorUnavailable(Exception):
    """The processor did not answer clearly: retry with the same idempotency key."""


class PaymentProcessor(Protocol):
    async def charge(
        self, *, tenant_id: str, amount_cents: int, payment_method: str, idempotency_key: str, description: str
    ) -> ChargeOutcome: ...


class SandboxProcessor:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def charge(
        self, *, tenant_id: str, amount_cents: int, payment_method: str, idempotency_key: str, description: str
    ) -> ChargeOutcome:
        succeeded = payment_method.startswith("pm_card_") and payment_method not in DECLINING_METHODS
        async with self._db.tenant_session(tenant_id) as session:
            row = (
                await run_sql(
                    session,
                    "INSERT INTO billing_sandbox_charges"
                    " (tenant_id, idempotency_key, id, amount_cents, payment_method, succeeded)"
                    " VALUES (:t, :k, :id, :a, :pm, :ok)"
                    " ON CONFLICT (tenant_id, idempotency_key) DO UPDATE SET tenant_id = EXCLUDED.tenant_id"
                    " RETURNING id, succeeded, amount_cents",
                    {
                        "t": tenant_id,
                        "k": idempotency_key,
                        "id": "ch_" + hashlib.sha256(f"{tenant_id}:{idempotency_key}".encode()).hexdigest()[:24],
                        "a": amount_cents,
                        "pm": payment_method,
                        "ok": succeeded,
                    },
                )
            ).one()
        if row.amount_cents != amount_cents:
            raise ValueError("idempotency key reused with another amount")
        return ChargeOutcome(row.succeeded, row.id, None if row.succeeded else "card_declined")


class HttpProcessor:
    def __init__(self, base_url: str, secret: str, *, http: httpx.AsyncClient | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._secret = secret
        self._http = http or httpx.AsyncClient(timeout=20.0, follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def charge(
        self, *, tenant_id: str, amount_cents: int, payment_method: str, idempotency_key: str, description: str
    ) -> ChargeOutcome:
        try:
            response = await self._http.post(
                f"{self._base}/v1/payment_intents",
                data={
                    "amount": str(amount_cents),
                    "currency": "usd",
                    "customer": tenant_id,
                    "payment_method": payment_method,
                    "confirm": "true",
                    "description": description,
                },
                headers={"Authorization": f"Bearer {self._secret}", "Idempotency-Key": idempotency_key},
            )
        except httpx.HTTPError as exc:
            raise ProcessorUnavailable(type(exc).__name__) from exc
        if response.status_code == 402:
            error = response.json().get("error", {}) if _is_json(response) else {}
            return ChargeOutcome(False, error.get("payment_intent", {}).get("id"), str(error.get("code", "declined")))
        if response.is_success and _is_json(response):
            body = response.json()
            if body.get("status") == "succeeded":
                return ChargeOutcome(True, str(body.get("id")))
            return ChargeOutcome(False, str(body.get("id")), str(body.get("status")))
        raise ProcessorUnavailable(f"processor answered {response.status_code}")


def _is_json(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


def build_processor(db: Database, settings: Settings) -> PaymentProcessor:
    """The HTTP processor when `AIAAS_BILLING_PROCESSOR_URL` is set, else the sandbox."""
    if settings.billing_processor_url:
        return HttpProcessor(settings.billing_processor_url, settings.billing_processor_secret.get_secret_value())
    return SandboxProcessor(db)
