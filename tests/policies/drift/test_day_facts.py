"""Stored day facts against the raw read: the same facts in the same order, so the same verdict.

A tenant's baseline and night are seeded as the platform writes turns; `night_facts` runs once cold (every day
read raw, the finished baseline days stored) and again warm (the baseline from `drift_day_facts`). Both give
exactly the facts and the analysis of one raw read of the whole window, and a stored day that is wrong shows
up in what is read, so the comparison is of the stored rows. Erasure and retention remove days, the next night
reads them again from what is left; another tenant's session sees and writes none of them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.settings import Settings
from db.database import Database, run_sql
from policies.drift.days import NightFacts, canonical, night_facts, stored_days
from policies.drift.detector import analyse
from policies.drift.facts import TurnFact
from policies.drift.store import day_start, turn_facts
from policies.erasure.store import create_erasure, erase_customer
from policies.retention import Kind, delete_batch
from tenancy.tenants import create_tenant
from tests.policies.drift.seed import BASELINE_DAYS, NIGHT, seed_turns

pytestmark = pytest.mark.timeout(120)
# Long after the night: every baseline day is finished.
LATER = datetime(2026, 1, 1, tzinfo=UTC)
FIRST = NIGHT - timedelta(days=BASELINE_DAYS)


async def _tenant(
    settings: Settings, db: Database, seed: int, price_factor: float = 1.0, tool_errors: float = 0.02
) -> str:
    created = await create_tenant(
        settings.database_url or "",
        name=f"drift days {uuid.uuid4().hex[:6]}",
        plan="pro",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    await seed_turns(db, created.tenant_id, price_factor=price_factor, night_tool_errors=tool_errors, seed=seed)
    return created.tenant_id


async def _raw(db: Database, tenant_id: str) -> tuple[list[TurnFact], list[TurnFact]]:
    """One raw read of the whole window, split into baseline and night: what the analysis read before."""
    async with db.tenant_session(tenant_id) as session:
        facts = canonical(await turn_facts(session, day_start(FIRST), day_start(NIGHT + timedelta(days=1))))
    last = NIGHT.toordinal()
    return [f for f in facts if f.day < last], [f for f in facts if f.day == last]


async def _night(db: Database, tenant_id: str, now: datetime = LATER) -> NightFacts:
    async with db.tenant_session(tenant_id) as session:
        return await night_facts(session, tenant_id, NIGHT, BASELINE_DAYS, now)


async def test_stored_days_give_the_raw_reads_facts_and_verdict(migrated: Settings, db: Database) -> None:
    tenant = await _tenant(migrated, db, 5, price_factor=1.5, tool_errors=0.3)
    raw_base, raw_night = await _raw(db, tenant)
    expected = analyse(raw_base, BASELINE_DAYS, raw_night)
    assert expected.detected and {"price_per_1k_tokens", "tool_failure_rate"} <= {f.metric for f in expected.findings}

    cold = await _night(db, tenant)
    assert (cold.stored_days, cold.raw_days) == (0, BASELINE_DAYS + 1)
    warm = await _night(db, tenant)
    assert (warm.stored_days, warm.raw_days) == (BASELINE_DAYS, 1)
    for got in (cold, warm):
        assert got.baseline == raw_base and got.current == raw_night and got.days == BASELINE_DAYS
        assert analyse(got.baseline, got.days, got.current) == expected

    # The warm read is of the stored rows: a wrong stored latency is what it returns.
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session, "UPDATE drift_day_facts SET latency_ms[1] = latency_ms[1] * 10 WHERE day = :d", {"d": FIRST}
        )
    wrong = await _night(db, tenant)
    assert wrong.baseline != raw_base and analyse(wrong.baseline, wrong.days, wrong.current) != expected

    # A day missing from the store (a gap) is read raw again and stored, and the result is the raw one again.
    async with db.tenant_session(tenant) as session:
        await run_sql(session, "DELETE FROM drift_day_facts WHERE day = :d", {"d": FIRST})
    gap = await _night(db, tenant)
    assert (gap.stored_days, gap.raw_days) == (BASELINE_DAYS - 1, 2) and gap.baseline == raw_base


async def test_only_finished_days_are_stored_and_empty_days_are_remembered(migrated: Settings, db: Database) -> None:
    tenant = await _tenant(migrated, db, 6)
    async with db.tenant_session(tenant) as session:
        # A day before the seeded ones: no turns.
        await run_sql(session, "DELETE FROM messages WHERE created_at < :end", {"end": day_start(FIRST + timedelta(1))})
    # Run by hand while the night is still going: yesterday's late ledger rows may still come, so it is read
    # but not kept (the scheduled run, after midnight, keeps it).
    early = await _night(db, tenant, day_start(NIGHT) + timedelta(minutes=30))
    assert early.days == BASELINE_DAYS - 1
    async with db.tenant_session(tenant) as session:
        kept = await stored_days(session, FIRST, NIGHT)
    assert sorted(kept) == [FIRST + timedelta(days=n) for n in range(BASELINE_DAYS - 1)]
    assert kept[FIRST] == []
    again = await _night(db, tenant)
    assert (again.stored_days, again.raw_days, again.days) == (BASELINE_DAYS - 1, 2, BASELINE_DAYS - 1)
    assert again.baseline == early.baseline


async def test_erasure_and_retention_remove_stored_days(migrated: Settings, db: Database) -> None:
    tenant = await _tenant(migrated, db, 7)
    erased_day = FIRST + timedelta(days=3)
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    async with db.tenant_session(tenant) as session:
        await run_sql(
            session,
            "INSERT INTO customers (id, tenant_id, email, name) VALUES (:id, :tid, 'ada@example.com', 'Ada')",
            {"id": customer, "tid": tenant},
        )
        await run_sql(
            session,
            "UPDATE conversations SET customer_id = :c WHERE created_at >= :start AND created_at < :end",
            {"c": customer, "start": day_start(erased_day), "end": day_start(erased_day + timedelta(days=1))},
        )
    await _night(db, tenant)
    erasure_id = str(uuid.uuid4())
    async with db.tenant_session(tenant) as session:
        await create_erasure(session, tenant, erasure_id, customer, "test", "wf")
        rows, conversations, _ = await erase_customer(session, erasure_id, customer, lambda *_: None)
    assert conversations and rows["public.drift_day_facts"] == 1 and rows["public.messages"] > 0
    async with db.tenant_session(tenant) as session:
        kept = await stored_days(session, FIRST, NIGHT)
    assert erased_day not in kept and len(kept) == BASELINE_DAYS - 1
    # The next night reads the day again from what is left: none of the customer's turns.
    after = await _night(db, tenant)
    raw_base, _ = await _raw(db, tenant)
    assert after.raw_days == 2 and after.baseline == raw_base and after.days == BASELINE_DAYS - 1
    async with db.tenant_session(tenant) as session:
        assert (await stored_days(session, erased_day, erased_day)) == {erased_day: []}

    # Transcript retention takes the days past it with the messages.
    async with db.tenant_session(tenant) as session:
        deleted = await delete_batch(session, Kind.TRANSCRIPTS, (datetime.now(UTC).date() - FIRST).days - 5, 1000)
        left = await stored_days(session, FIRST, NIGHT)
    assert deleted["public.drift_day_facts"] == 5
    assert sorted(left) == [FIRST + timedelta(days=n) for n in range(5, BASELINE_DAYS)]


async def test_another_tenant_neither_reads_nor_writes_the_stored_days(migrated: Settings, db: Database) -> None:
    owner = await _tenant(migrated, db, 8)
    other = await _tenant(migrated, db, 9)
    await _night(db, owner)
    async with db.tenant_session(other) as session:
        assert await stored_days(session, FIRST, NIGHT) == {}
        seen = (
            await run_sql(session, "SELECT count(*) FROM drift_day_facts WHERE tenant_id = :t", {"t": owner})
        ).scalar()
        assert seen == 0
        deleted = await run_sql(session, "DELETE FROM drift_day_facts WHERE tenant_id = :t", {"t": owner})
        assert getattr(deleted, "rowcount", None) == 0
    # The other tenant's own night stores and reads its own days only.
    theirs = await _night(db, other)
    assert theirs.stored_days == 0 and theirs.baseline == (await _raw(db, other))[0]
    with pytest.raises(Exception, match="row-level security"):
        async with db.tenant_session(other) as session:
            await run_sql(
                session,
                "INSERT INTO drift_day_facts (tenant_id, day, agent, model) VALUES (:t, :d, 'x', 'y')",
                {"t": owner, "d": NIGHT},
            )
    async with db.tenant_session(owner) as session:
        mine = await stored_days(session, FIRST, NIGHT)
    assert len(mine) == BASELINE_DAYS and all(f.agent != "x" for facts in mine.values() for f in facts)
