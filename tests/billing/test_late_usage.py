"""Usage settled after a period's close is billed on the next invoice, once, priced as if it had been on time.

Through `BillingActivities.close_period` on the real Postgres (app role, row-level security): a row dated in
a closed period but committed after its close has read the ledger, a retried close of either period, and a
row dated before the first invoiced period (never billed).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from redis.asyncio import Redis

from activities.billing import BillingActivities
from billing.late import LateUsage, late_line, overage_cents
from billing.payments import SandboxProcessor
from contracts.billing import ClosePeriodInput, InvoiceSummary
from db.database import Database, run_sql
from tests.billing.conftest import seed_usage
from tests.billing.oracle import OracleLate, oracle_overage, oracle_total

JAN, FEB, MAR, APR = (datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3, 4))
LATE = "usage settled after the close of period"


async def _close(acts: BillingActivities, tenant_id: str, start: datetime, end: datetime) -> InvoiceSummary:
    return await acts.close_period(
        ClosePeriodInput(
            tenant_id=tenant_id, start_plan="pro", plan="pro", period_start=start, period_end=end, tax_rate="0.19",
            credit_cents=0,
        )
    )  # fmt: skip


async def _settle_late(db: Database, tenant_id: str, at: datetime, tokens: int) -> str:
    key = f"late-{uuid.uuid4()}"
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            (
                "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, prompt_tokens, completion_tokens,"
                " settled_at, expires_at) VALUES (:t, :k, 'model', 'settled', 'wf', :n, 0, :at, :at)"
            ),
            {"t": tenant_id, "k": key, "n": tokens, "at": at},
        )
    return key


async def _invoice(db: Database, tenant_id: str, invoice_id: str) -> tuple[list[dict], int]:  # type: ignore[type-arg]
    async with db.tenant_session(tenant_id) as session:
        row = (
            await run_sql(
                session,
                ("SELECT lines, total_cents FROM invoices WHERE tenant_id = :t AND id = :i"),
                {"t": tenant_id, "i": invoice_id},
            )
        ).one()
    return list(row.lines), int(row.total_cents)


async def _billed_by(db: Database, tenant_id: str, key: str) -> str | None:
    async with db.tenant_session(tenant_id) as session:
        return (
            await run_sql(
                session,
                ("SELECT billed_invoice_id FROM usage_ledger WHERE tenant_id = :t AND key = :k"),
                {"t": tenant_id, "k": key},
            )
        ).scalar_one()


async def test_a_late_row_lands_once_on_the_next_invoice(db: Database, redis: Redis, tenant_id: str) -> None:
    acts = BillingActivities(db, redis, SandboxProcessor(db))
    await seed_usage(db, tenant_id, JAN + timedelta(days=3), 12_000_000)
    before_any = await _settle_late(db, tenant_id, JAN - timedelta(days=2), 9_000_000)
    january = await _close(acts, tenant_id, JAN, FEB)

    # Settled after January's close read the ledger, dated one second before January ended.
    late = await _settle_late(db, tenant_id, FEB - timedelta(seconds=1), 7_000_000)
    again = await _close(acts, tenant_id, JAN, FEB)
    assert (again.invoice_id, again.created) == (january.invoice_id, False)
    assert await _billed_by(db, tenant_id, late) is None

    await seed_usage(db, tenant_id, FEB + timedelta(days=1), 1_000_000)
    february = await _close(acts, tenant_id, FEB, MAR)
    lines, total = await _invoice(db, tenant_id, february.invoice_id)
    late_lines = [x for x in lines if x["description"].startswith(LATE)]
    assert [x["description"] for x in late_lines] == [f"{LATE} 2026-01-01 to 2026-02-01"]
    assert late_lines[0]["quantity"] == 7_000_000
    # Priced on top of January's 12M tokens, as if it had come on time, and the oracle agrees to the cent.
    assert late_lines[0]["amount_cents"] == oracle_overage("pro", 19_000_000) - oracle_overage("pro", 12_000_000)
    want, _ = oracle_total(
        start_plan="pro", end_plan="pro", start=FEB, end=MAR, tokens=1_000_000, changes=[], credit=0,
        tax=Fraction(19, 100), late=(OracleLate("pro", 12_000_000, 7_000_000),),
    )  # fmt: skip
    assert total == want
    assert await _billed_by(db, tenant_id, late) == february.invoice_id

    # Retried February close and March's close: the late row is on no other invoice.
    assert (await _close(acts, tenant_id, FEB, MAR)).invoice_id == february.invoice_id
    march = await _close(acts, tenant_id, MAR, APR)
    march_lines, _ = await _invoice(db, tenant_id, march.invoice_id)
    assert not [x for x in march_lines if x["description"].startswith(LATE)]
    assert await _billed_by(db, tenant_id, late) == february.invoice_id
    # Usage from before the first invoiced period belongs to no closed period and is never billed.
    assert await _billed_by(db, tenant_id, before_any) is None


async def test_late_rows_of_a_period_billed_twice_late_add_up_to_the_on_time_bill(
    db: Database, redis: Redis, tenant_id: str
) -> None:
    acts = BillingActivities(db, redis, SandboxProcessor(db))
    await seed_usage(db, tenant_id, JAN + timedelta(days=3), 3_000_000)
    await _close(acts, tenant_id, JAN, FEB)
    await _settle_late(db, tenant_id, JAN + timedelta(days=20), 4_000_000)
    february = await _close(acts, tenant_id, FEB, MAR)
    await _settle_late(db, tenant_id, JAN + timedelta(days=21), 900_000_000)
    march = await _close(acts, tenant_id, MAR, APR)

    amounts = []
    for summary in (february, march):
        lines, _ = await _invoice(db, tenant_id, summary.invoice_id)
        amounts += [x["amount_cents"] for x in lines if x["description"].startswith(LATE)]
    assert len(amounts) == 2
    # The second late line starts where the first left January: nothing lost, nothing billed twice.
    assert oracle_overage("pro", 3_000_000) + sum(amounts) == oracle_overage("pro", 907_000_000)


def test_the_late_line_telescopes_over_any_split() -> None:
    total = 0
    billed = 0
    for tokens in (1, 4_999_999, 10**6, 123_456_789, 10**9):
        line = late_line(LateUsage(JAN, FEB, "pro", billed, tokens))
        assert line.quantity == tokens
        total += line.amount_cents
        billed += tokens
    assert total == overage_cents("pro", billed) == oracle_overage("pro", billed)


async def test_a_settle_committing_after_the_close_is_billed_by_the_next_close(
    db: Database, redis: Redis, tenant_id: str
) -> None:
    """The real interleaving: a settle's transaction starts (dating the row) before the close and commits after."""
    acts = BillingActivities(db, redis, SandboxProcessor(db))
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(days=30), now + timedelta(hours=1)
    await seed_usage(db, tenant_id, start + timedelta(days=1), 6_000_000)
    key = f"slow-{uuid.uuid4()}"
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, prompt_tokens, completion_tokens,"
            " expires_at) VALUES (:t, :k, 'model', 'reserved', 'wf', 0, 0, :e)",
            {"t": tenant_id, "k": key, "e": end},
        )
    async with db.tenant_session(tenant_id) as settling:
        # The settle as `policies.cost_guard` writes it: dated by its transaction's start, not yet committed.
        await run_sql(
            settling,
            "UPDATE usage_ledger SET status = 'settled', prompt_tokens = 2000000, completion_tokens = 500000,"
            " settled_at = now() WHERE tenant_id = :t AND key = :k",
            {"t": tenant_id, "k": key},
        )
        closed = await _close(acts, tenant_id, start, end)
    assert await _billed_by(db, tenant_id, key) is None
    assert (await _close(acts, tenant_id, start, end)).invoice_id == closed.invoice_id
    assert await _billed_by(db, tenant_id, key) is None

    following = await _close(acts, tenant_id, end, end + timedelta(days=30))
    lines, _ = await _invoice(db, tenant_id, following.invoice_id)
    late = [x for x in lines if x["description"].startswith(LATE)]
    assert [x["quantity"] for x in late] == [2_500_000]
    assert late[0]["amount_cents"] == oracle_overage("pro", 8_500_000) - oracle_overage("pro", 6_000_000)
    assert await _billed_by(db, tenant_id, key) == following.invoice_id
