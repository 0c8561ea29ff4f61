"""Billing: a simulated year through the period-close path against an independent oracle, and the month-end
close of many tenants through the close activity on a real Postgres, each against a baseline of the same run.

1. Year (pure period-close path, no clock): 200 tenants x 12 monthly periods with random usage, upgrades and
   downgrades now (prorated per second), downgrades at period end, credits carried between periods, a tax
   rate, and payments that fail at random and are retried on the dunning schedule, with "worker kills" that
   repeat a charge with the same idempotency key. Each invoice comes from `billing.period.bill_period` (what
   `billing.close_period` runs) and must equal `tests.billing.oracle` to the cent; the processor model must
   never move money twice for an invoice. Some periods have usage settled after their close: it must come on the
   next invoice as its own line, equal to the oracle's, and each period's own overage plus its late line must
   be exactly the overage of all its tokens (no usage lost, none billed twice). The time-skipping workflow
   tests (tests/billing/) cover the same path through Temporal, with a real worker restart.
2. Month-end close: `--close-tenants` tenants with ledger rows, each period closed by
   `BillingActivities.close_period` (counter lock, ledger sum, invoice insert), 16 at a time; then the same
   again to show a retried close is idempotent, and every tenant's counter must equal its invoice count (no
   gap, no number taken twice). Then a row settled late in the closed period for every tenant, and the next
   period's close, which must bill each late row once, on its invoice's late line. Baseline: the bare ledger sum
   per tenant in its own transaction, same concurrency, same run.

    python -m benchmarks billing_year [--tenants 200] [--close-tenants 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from activities.billing import BillingActivities
from benchmarks.knowledge_isolation import start_server
from billing.late import LateUsage
from billing.payments import SandboxProcessor
from billing.period import Change, bill_period
from contracts.billing import DEFAULT_DUNNING_DAYS, ClosePeriodInput, add_month
from db.database import Database, run_sql
from db.migrate import migrate
from tenancy.tenants import create_tenant
from tests.billing.oracle import OracleChange, OracleLate, oracle_overage, oracle_period_ends, oracle_total

PLANS = ("free", "pro", "enterprise")
FEES = {"free": 0, "pro": 4900, "enterprise": 99900}
TAX = ("0", "0.07", "0.19", "0.2")
APP_PASSWORD = "bench-app-password"
PEPPER = "bench-pepper"
CONCURRENCY = 16
LATE_LINE = "usage settled after the close of period"


def simulate_year(tenants: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    stats = dict.fromkeys(
        ("invoices", "mismatches", "period_mismatches", "changes", "failed_tries", "double_charges", "kills"), 0
    ) | {"late_periods": 0, "late_tokens": 0, "usage_lost_or_twice": 0}
    for t in range(tenants):
        plan, tax, credit = rng.choice(PLANS), rng.choice(TAX), rng.choice([0, 0, 2500])
        # Any day of January, the 29th to 31st included: their anchors are clamped in shorter months.
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(86400 * 31))
        anchor, want_ends = start.day, oracle_period_ends(start, 12)
        processor: dict[str, bool] = {}  # idempotency key -> succeeded, as a processor keeps it
        late: LateUsage | None = None  # the previous period's usage settled after its close
        for month in range(12):
            end = add_month(start, anchor)
            stats["period_mismatches"] += end != want_ends[month]
            period_plan, changes, pending = plan, [], None
            for _ in range(rng.choice([0, 0, 0, 1, 2])):
                new = rng.choice([p for p in PLANS if p != plan])
                if FEES[new] < FEES[plan] and rng.random() < 0.5:
                    pending = new
                    continue
                at = start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))
                at = max([at, *(c.at for c in changes)])
                changes.append(Change(plan, new, at))
                plan = new
            stats["changes"] += len(changes) + (pending is not None)
            tokens = rng.choice([0, rng.randrange(0, 6 * 10**6), rng.randrange(0, 3 * 10**9)])
            bill = bill_period(
                start_plan=period_plan, end_plan=plan, start=start, end=end, tokens=tokens,
                changes=changes, credit_cents=credit, tax_rate=Decimal(tax), late=[late] if late else [],
            )  # fmt: skip
            want, left = oracle_total(
                start_plan=period_plan, end_plan=plan, start=start, end=end, tokens=tokens,
                changes=[OracleChange(c.from_plan, c.to_plan, c.at) for c in changes], credit=credit, tax=Fraction(tax),
                late=(OracleLate(late.plan, late.billed_tokens, late.tokens),) if late else (),
            )  # fmt: skip
            stats["mismatches"] += bill.draft.total_cents != want or bill.credit_left_cents != left
            if late:
                # The late line and the period's own overage must add up to all its tokens billed on time.
                late_cents = sum(x.amount_cents for x in bill.draft.lines if x.description.startswith(LATE_LINE))
                on_time = oracle_overage(late.plan, late.billed_tokens)
                stats["usage_lost_or_twice"] += on_time + late_cents != oracle_overage(
                    late.plan, late.billed_tokens + late.tokens
                )
            late = None
            if month < 11 and rng.random() < 0.25:  # settled after this close, dated before its end
                extra = rng.choice([rng.randrange(1, 10**5), rng.randrange(1, 6 * 10**6), rng.randrange(1, 10**9)])
                late = LateUsage(start, end, plan, tokens, extra)
                stats["late_periods"] += 1
                stats["late_tokens"] += extra
            stats["invoices"] += 1
            invoice = f"t{t}:m{month}"
            for i, _day in enumerate((0, *DEFAULT_DUNNING_DAYS)):
                key = f"{invoice}:try{i}"
                for _attempt in range(2 if rng.random() < 0.05 else 1):  # a kill repeats the charge
                    stats["kills"] += _attempt
                    processor.setdefault(key, rng.random() < 0.7)
                if processor[key]:
                    break
                stats["failed_tries"] += 1
            paid = [k for k, ok in processor.items() if ok and k.startswith(f"{invoice}:")]
            stats["double_charges"] += len(paid) > 1
            credit, start, plan = left, end, pending or plan
    return stats


async def _seed(admin_url: str, db: Database, tenants: int, start: datetime) -> list[str]:
    ids = []
    for i in range(tenants):
        created = await create_tenant(admin_url, name=f"Close {i} {uuid.uuid4().hex[:6]}", plan="pro", pepper=PEPPER)
        ids.append(created.tenant_id)
        async with db.tenant_session(created.tenant_id) as session:
            await run_sql(
                session,
                "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, prompt_tokens, completion_tokens,"
                " settled_at, expires_at) SELECT :t, 'k' || g, 'model', 'settled', 'wf', 40000 * g, 1000 * g,"
                " CAST(:at AS timestamptz) + g * interval '1 hour', now() FROM generate_series(1, 50) g",
                {"t": created.tenant_id, "at": start},
            )
    return ids


async def _timed(jobs: list, limit: int = CONCURRENCY) -> float:  # type: ignore[type-arg]
    gate = asyncio.Semaphore(limit)

    async def one(job) -> None:  # type: ignore[no-untyped-def]
        async with gate:
            await job()

    started = time.perf_counter()
    await asyncio.gather(*(one(j) for j in jobs))
    return time.perf_counter() - started


async def close_month(admin_url: str, tenants: int) -> None:
    await migrate(admin_url, APP_PASSWORD)
    db = Database(re.sub(r"//postgres:[^@]*@", f"//aiaas_app:{APP_PASSWORD}@", admin_url), pool_size=CONCURRENCY)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = add_month(start)
    try:
        ids = await _seed(admin_url, db, tenants, start)
        acts = BillingActivities(db, None, SandboxProcessor(db))  # type: ignore[arg-type]

        def bare(t: str):  # type: ignore[no-untyped-def]
            async def job() -> None:
                async with db.tenant_session(t) as session:
                    await run_sql(
                        session,
                        "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage_ledger"
                        " WHERE tenant_id = :t AND status = 'settled' AND settled_at >= :s AND settled_at < :e",
                        {"t": t, "s": start, "e": end},
                    )

            return job

        def close(t: str, s: datetime = start, e: datetime = end):  # type: ignore[no-untyped-def]
            inp = ClosePeriodInput(
                tenant_id=t, start_plan="pro", plan="pro", period_start=s, period_end=e, tax_rate="0.19",
                credit_cents=0,
            )  # fmt: skip
            return lambda: acts.close_period(inp)

        baseline = await _timed([bare(t) for t in ids])
        closed = await _timed([close(t) for t in ids])
        again = await _timed([close(t) for t in ids])
        admin = Database(admin_url, pool_size=1)
        async with admin.admin_session() as session:
            count = (await run_sql(session, "SELECT count(*) FROM invoices")).scalar_one()
            await run_sql(
                session,
                "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, prompt_tokens, completion_tokens,"
                " settled_at, expires_at) SELECT id, 'late', 'model', 'settled', 'wf', 5000000, 0,"
                " CAST(:at AS timestamptz), now() FROM tenants WHERE id = ANY(:ids)",
                {"at": end - timedelta(seconds=1), "ids": ids},
            )
        late_close = await _timed([close(t, end, add_month(end)) for t in ids])
        await _timed([close(t, end, add_month(end)) for t in ids])
        async with admin.admin_session() as session:
            unbilled = (
                await run_sql(session, "SELECT count(*) FROM usage_ledger WHERE billed_invoice_id IS NULL")
            ).scalar_one()
            late_lines = (
                await run_sql(
                    session,
                    "SELECT count(*) FROM invoices, jsonb_array_elements(lines) x"
                    " WHERE x->>'description' LIKE :p AND (x->>'quantity')::bigint = 5000000",
                    {"p": LATE_LINE + "%"},
                )
            ).scalar_one()
            gaps = (
                await run_sql(
                    session,
                    "SELECT count(*) FROM invoice_counters c WHERE last_number <>"
                    " (SELECT count(*) FROM invoices i WHERE i.tenant_id = c.tenant_id)",
                )
            ).scalar_one()
        await admin.close()
        print(f"\nmonth-end close, {tenants} tenants x 50 ledger rows, {CONCURRENCY} at a time, one Postgres:")
        print(f"  baseline (ledger sum per tenant, own transaction)  {baseline:7.2f} s")
        print(f"  close_period (lock counter, sum, insert invoice)   {closed:7.2f} s   ratio {closed / baseline:.1f}x")
        print(
            f"  the same closes retried (find the invoice)         {again:7.2f} s"
            f"   invoices: {count}, counters out of step: {gaps}"
        )
        print(
            f"  next period with one late row each, closed twice   {late_close:7.2f} s"
            f"   late lines: {late_lines} (of {tenants}), rows left unbilled: {unbilled}"
        )
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks billing_year", description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--close-tenants", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    stats = simulate_year(args.tenants, args.seed)
    print(f"simulated year (pure period-close path), {args.tenants} tenants: {stats}")
    print(f"  {time.perf_counter() - started:.2f} s")
    if args.close_tenants:
        with tempfile.TemporaryDirectory(prefix="aiaas-bench-billing-") as tmp:
            root = Path(tmp)
            root.chmod(0o755)
            server, url = start_server(root, "billing", None)
            try:
                asyncio.run(close_month(url, args.close_tenants))
            finally:
                server.stop()
    bad = stats["mismatches"] + stats["period_mismatches"] + stats["double_charges"] + stats["usage_lost_or_twice"]
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
