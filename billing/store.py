"""Invoices, payments and the subscription projection in Postgres, all under the tenant's RLS session.

`insert_invoice` numbers invoices without gaps: the tenant's `invoice_counters` row is locked first, then the
period is looked up, then the counter moves and the invoice is inserted, in one transaction. A retried close
of the same period finds its invoice under the lock and returns it; a rolled back insert gives the number
back. `record_payment` is keyed by the charge's idempotency key, and marks the invoice paid in the same
transaction as the successful payment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from billing.invoice import InvoiceDraft
from billing.late import LateUsage
from db.database import run_sql
from db.ids import new_id

NUMBER_DIGITS = 6


@dataclass(frozen=True)
class StoredInvoice:
    id: str
    number: str
    period_start: datetime
    period_end: datetime
    plan: str
    lines: list[dict[str, Any]]
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    credit_used_cents: int
    tokens: int
    status: str
    created_at: datetime
    paid_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "plan": self.plan,
            "currency": "usd",
            "lines": self.lines,
            "subtotal_cents": self.subtotal_cents,
            "tax_cents": self.tax_cents,
            "total_cents": self.total_cents,
            "credit_used_cents": self.credit_used_cents,
            "tokens": self.tokens,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "paid_at": self.paid_at.isoformat() if self.paid_at else None,
        }


_COLUMNS = (
    "id, number, period_start, period_end, plan, lines, subtotal_cents, tax_cents, total_cents, credit_used_cents,"
    " tokens, status, created_at, paid_at"
)


_INSERT_INVOICE = (
    "INSERT INTO invoices (tenant_id, id, number, period_start, period_end, plan, lines, subtotal_cents,"
    " tax_cents, total_cents, credit_used_cents, tokens, status, paid_at)"
    " VALUES (:t, :id, :number, :s, :e, :plan, CAST(:lines AS jsonb), :sub, :tax, :total, :credit, :tokens,"
    " :status, CASE WHEN CAST(:paid AS boolean) THEN now() END) RETURNING id, number,"
    " period_start, period_end, plan, lines, subtotal_cents, tax_cents, total_cents, credit_used_cents, tokens,"
    " status, created_at, paid_at"
)
_INSERT_PAYMENT = (
    "INSERT INTO billing_payments (tenant_id, idempotency_key, invoice_id, amount_cents, succeeded, reference,"
    " error) VALUES (:t, :k, :i, :a, :ok, :ref, :err) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING"
)


def _invoice(row: Any) -> StoredInvoice:
    return StoredInvoice(*row)


_CLAIM_PERIOD = (
    "WITH billed AS (UPDATE usage_ledger SET billed_invoice_id = :i WHERE tenant_id = :t AND status = 'settled'"
    " AND billed_invoice_id IS NULL AND settled_at >= :s AND settled_at < :e"
    " RETURNING prompt_tokens + completion_tokens AS n) SELECT COALESCE(SUM(n), 0) FROM billed"
)
# Rows dated in a period that already has an invoice (never before the first one: usage before a subscription
# began, or in a period closed without an invoice, is not billed), grouped by that invoice.
_CLAIM_LATE = (
    "WITH billed AS (UPDATE usage_ledger u SET billed_invoice_id = :i FROM invoices v"
    " WHERE u.tenant_id = :t AND v.tenant_id = :t AND u.status = 'settled' AND u.billed_invoice_id IS NULL"
    " AND u.settled_at < :s AND u.settled_at >= v.period_start AND u.settled_at < v.period_end"
    " RETURNING v.id AS period_invoice, u.prompt_tokens + u.completion_tokens AS n)"
    " SELECT v.period_start, v.period_end, v.plan, SUM(b.n) AS tokens,"
    " (SELECT COALESCE(SUM(l.prompt_tokens + l.completion_tokens), 0) FROM usage_ledger l"
    "  WHERE l.tenant_id = :t AND l.status = 'settled' AND l.billed_invoice_id IS NOT NULL"
    "  AND l.billed_invoice_id <> :i AND l.settled_at >= v.period_start AND l.settled_at < v.period_end) AS before"
    " FROM billed b JOIN invoices v ON v.tenant_id = :t AND v.id = b.period_invoice"
    " GROUP BY v.id, v.period_start, v.period_end, v.plan HAVING SUM(b.n) > 0 ORDER BY v.period_start"
)


async def claim_usage(
    session: AsyncSession, tenant_id: str, invoice_id: str, start: datetime, end: datetime
) -> tuple[int, list[LateUsage]]:
    """Mark the rows the invoice `invoice_id` bills, in its transaction: the period's settled tokens, and the
    late ones of earlier invoiced periods (each with what its period had billed before)."""
    params = {"t": tenant_id, "i": invoice_id, "s": start, "e": end}
    tokens = int((await run_sql(session, _CLAIM_PERIOD, params)).scalar_one())
    late = [
        LateUsage(period_start=r.period_start, period_end=r.period_end, plan=r.plan, billed_tokens=int(r.before),
                  tokens=int(r.tokens))
        for r in await run_sql(session, _CLAIM_LATE, params)
    ]  # fmt: skip
    return tokens, late


async def lock_counter(session: AsyncSession, tenant_id: str) -> int:
    await run_sql(
        session,
        "INSERT INTO invoice_counters (tenant_id) VALUES (:t) ON CONFLICT (tenant_id) DO NOTHING",
        {"t": tenant_id},
    )
    row = await run_sql(
        session, "SELECT last_number FROM invoice_counters WHERE tenant_id = :t FOR UPDATE", {"t": tenant_id}
    )
    return int(row.scalar_one())


async def invoice_for_period(session: AsyncSession, tenant_id: str, start: datetime) -> StoredInvoice | None:
    row = (
        await run_sql(
            session,
            f"SELECT {_COLUMNS} FROM invoices WHERE tenant_id = :t AND period_start = :s",  # noqa: S608 (constant)
            {"t": tenant_id, "s": start},
        )
    ).first()
    return _invoice(row) if row else None


async def insert_invoice(
    session: AsyncSession,
    tenant_id: str,
    *,
    number: int,
    start: datetime,
    end: datetime,
    plan: str,
    draft: InvoiceDraft,
    credit_used_cents: int,
    tokens: int,
    invoice_id: str | None = None,
) -> StoredInvoice:
    """Insert the invoice numbered `number` and move the counter to it; the caller holds the counter lock."""
    lines = [
        {"description": x.description, "quantity": x.quantity, "amount_cents": x.amount_cents} for x in draft.lines
    ]
    status = "paid" if draft.total_cents == 0 else "open"
    row = (
        await run_sql(
            session,
            _INSERT_INVOICE,
            {
                "t": tenant_id,
                "id": invoice_id or new_id(),
                "number": str(number).zfill(NUMBER_DIGITS),
                "s": start,
                "e": end,
                "plan": plan,
                "lines": json.dumps(lines),
                "sub": draft.subtotal_cents,
                "tax": draft.tax_cents,
                "total": draft.total_cents,
                "credit": credit_used_cents,
                "tokens": tokens,
                "status": status,
                "paid": status == "paid",
            },
        )
    ).one()
    await run_sql(
        session, "UPDATE invoice_counters SET last_number = :n WHERE tenant_id = :t", {"n": number, "t": tenant_id}
    )
    return _invoice(row)


async def get_invoice(session: AsyncSession, tenant_id: str, invoice_id: str) -> StoredInvoice | None:
    row = (
        await run_sql(
            session,
            f"SELECT {_COLUMNS} FROM invoices WHERE tenant_id = :t AND id = :id",  # noqa: S608 (constant)
            {"t": tenant_id, "id": invoice_id},
        )
    ).first()
    return _invoice(row) if row else None


async def list_invoices(
    session: AsyncSession, tenant_id: str, *, limit: int, before_number: str | None = None
) -> list[StoredInvoice]:
    rows = await run_sql(
        session,
        f"SELECT {_COLUMNS} FROM invoices WHERE tenant_id = :t"  # noqa: S608 (constant columns)
        " AND (CAST(:b AS text) IS NULL OR number < :b) ORDER BY number DESC LIMIT :n",
        {"t": tenant_id, "b": before_number, "n": limit},
    )
    return [_invoice(r) for r in rows]


async def paid_payment(session: AsyncSession, tenant_id: str, invoice_id: str) -> str | None:
    """The reference of the invoice's successful payment, if it has one."""
    return (
        await run_sql(
            session,
            "SELECT COALESCE(reference, idempotency_key) FROM billing_payments"
            " WHERE tenant_id = :t AND invoice_id = :i AND succeeded LIMIT 1",
            {"t": tenant_id, "i": invoice_id},
        )
    ).scalar()


async def record_payment(
    session: AsyncSession,
    tenant_id: str,
    *,
    key: str,
    invoice_id: str,
    amount_cents: int,
    succeeded: bool,
    reference: str | None,
    error: str | None,
) -> None:
    await run_sql(
        session,
        _INSERT_PAYMENT,
        {"t": tenant_id, "k": key, "i": invoice_id, "a": amount_cents, "ok": succeeded, "ref": reference, "err": error},
    )
    if succeeded:
        await run_sql(
            session,
            "UPDATE invoices SET status = 'paid', paid_at = COALESCE(paid_at, now()) WHERE tenant_id = :t AND id = :i",
            {"t": tenant_id, "i": invoice_id},
        )


async def list_payments(session: AsyncSession, tenant_id: str, invoice_id: str) -> list[dict[str, Any]]:
    rows = await run_sql(
        session,
        "SELECT idempotency_key, amount_cents, succeeded, reference, error, created_at FROM billing_payments"
        " WHERE tenant_id = :t AND invoice_id = :i ORDER BY created_at, idempotency_key",
        {"t": tenant_id, "i": invoice_id},
    )
    return [
        {
            "attempt": r.idempotency_key.rsplit(":", 1)[-1],
            "amount_cents": r.amount_cents,
            "succeeded": r.succeeded,
            "reference": r.reference,
            "error": r.error,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]


async def save_subscription(
    session: AsyncSession, tenant_id: str, plan: str, status: str, state: dict[str, Any]
) -> None:
    await run_sql(
        session,
        "INSERT INTO subscriptions (tenant_id, plan, status, state) VALUES (:t, :p, :s, CAST(:st AS jsonb))"
        " ON CONFLICT (tenant_id) DO UPDATE SET plan = :p, status = :s, state = CAST(:st AS jsonb), updated_at = now()",
        {"t": tenant_id, "p": plan, "s": status, "st": json.dumps(state)},
    )


async def read_subscription(session: AsyncSession, tenant_id: str) -> dict[str, Any] | None:
    row = (await run_sql(session, "SELECT state FROM subscriptions WHERE tenant_id = :t", {"t": tenant_id})).first()
    return dict(row[0]) if row else None
