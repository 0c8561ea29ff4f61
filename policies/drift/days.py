"""A night's turn facts: the trailing baseline from stored day facts, what is not stored yet from the raw rows.

Reading a turn from the transcript, the ledger and the tool calls costs tens of microseconds, and each night's
baseline is the last one's moved by a day: read raw, every day would be read fifteen times. So a finished day,
once read for a baseline, is kept in `drift_day_facts` (migration 0038): per agent and model, the day's turns
as parallel arrays, exactly the values the raw read gave. The next nights read those rows and only the days
not stored yet (the night itself, yesterday, a first run, a day erasure or retention removed) from the raw
rows, storing each finished one.

The result does not depend on what is stored: a stored day holds the raw read's values, and both paths give
the facts in one order (day, agent, model, then the order the raw read returns, the question's time and id).
A day is stored only once it is finished, `FINISHED_AFTER` past its end, the slack within which the raw read
still takes its late ledger rows and tool calls (`policies.drift.store`), so a night analysed just after
midnight never keeps a day whose last turns are still settling. Rows written to a day after it was stored
(none in normal operation: turns are recorded as they happen) are not seen until the day is stored again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from policies.drift.facts import TurnFact
from policies.drift.store import day_start, turn_facts

# A day is finished this long after its end: the raw read's slack for late ledger rows and tool calls.
FINISHED_AFTER = timedelta(days=1)
# A day without turns: one row with this agent and model and no turns, so the day is not read again.
_EMPTY = ("", "")
_ARRAYS = ("cost_usd", "tokens", "latency_ms", "failed", "tool_calls", "tool_failures")
_INSERT = """
INSERT INTO drift_day_facts (tenant_id, day, agent, model, turns, cost_usd, tokens, latency_ms, failed, tool_calls,
                             tool_failures)
VALUES (:tid, :day, :agent, :model, :turns, CAST(:cost_usd AS float8[]), CAST(:tokens AS bigint[]),
        CAST(:latency_ms AS float8[]), CAST(:failed AS boolean[]), CAST(:tool_calls AS integer[]),
        CAST(:tool_failures AS integer[]))
ON CONFLICT (tenant_id, day, agent, model) DO UPDATE SET turns = EXCLUDED.turns, cost_usd = EXCLUDED.cost_usd,
    tokens = EXCLUDED.tokens, latency_ms = EXCLUDED.latency_ms, failed = EXCLUDED.failed,
    tool_calls = EXCLUDED.tool_calls, tool_failures = EXCLUDED.tool_failures, computed_at = now()
"""


@dataclass(frozen=True, slots=True)
class NightFacts:
    baseline: list[TurnFact]
    current: list[TurnFact]
    # Baseline days with turns.
    days: int
    # Baseline days read from stored facts, and days (the night included) read from the raw rows.
    stored_days: int
    raw_days: int


def canonical(facts: Iterable[TurnFact]) -> list[TurnFact]:
    """Day, agent and model first; within them the order given (stable): the one order of both paths."""
    return sorted(facts, key=lambda f: (f.day, f.agent, f.model))


def finished(day: date, now: datetime) -> bool:
    return now >= day_start(day + timedelta(days=1)) + FINISHED_AFTER


def _runs(days: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs, so each run is one raw read."""
    out: list[tuple[date, date]] = []
    for day in sorted(days):
        if out and out[-1][1] + timedelta(days=1) == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


async def stored_days(session: AsyncSession, first: date, last: date) -> dict[date, list[TurnFact]]:
    """The stored facts of the days in [first, last], each day's in the canonical order."""
    rows = await run_sql(
        session,
        f"SELECT day, agent, model, {', '.join(_ARRAYS)} FROM drift_day_facts WHERE day >= :first AND day <= :last",  # noqa: S608
        {"first": first, "last": last},
    )
    cells: dict[date, list[Any]] = defaultdict(list)
    for r in rows:
        cells[r.day].append(r)
    out: dict[date, list[TurnFact]] = {}
    for day, day_rows in cells.items():
        facts: list[TurnFact] = []
        ordinal = day.toordinal()
        for r in sorted(day_rows, key=lambda r: (r.agent, r.model)):
            facts.extend(
                TurnFact(
                    agent=r.agent,
                    model=r.model,
                    cost_usd=cost,
                    tokens=tokens,
                    latency_ms=latency,
                    failed=failed,
                    tool_calls=calls,
                    tool_failures=failures,
                    day=ordinal,
                )
                for cost, tokens, latency, failed, calls, failures in zip(
                    r.cost_usd, r.tokens, r.latency_ms, r.failed, r.tool_calls, r.tool_failures, strict=True
                )
            )
        out[day] = facts
    return out


async def store_day(session: AsyncSession, tenant_id: str, day: date, facts: Sequence[TurnFact]) -> None:
    """Keep one finished day's facts (in the order given), replacing what was stored for it."""
    cells: dict[tuple[str, str], list[TurnFact]] = defaultdict(list)
    for fact in facts:
        cells[(fact.agent, fact.model)].append(fact)
    await run_sql(session, "DELETE FROM drift_day_facts WHERE day = :day", {"day": day})
    params = [
        {
            "tid": tenant_id,
            "day": day,
            "agent": agent,
            "model": model,
            "turns": len(turns),
            "cost_usd": [f.cost_usd for f in turns],
            "tokens": [f.tokens for f in turns],
            "latency_ms": [f.latency_ms for f in turns],
            "failed": [f.failed for f in turns],
            "tool_calls": [f.tool_calls for f in turns],
            "tool_failures": [f.tool_failures for f in turns],
        }
        for (agent, model), turns in (cells.items() if cells else [(_EMPTY, [])])
    ]
    for p in params:
        await run_sql(session, _INSERT, p)


async def raw_days(session: AsyncSession, days: Sequence[date]) -> dict[date, list[TurnFact]]:
    """The facts of `days` from the transcript, the ledger and the tool calls, one read per run of days."""
    out: dict[date, list[TurnFact]] = {day: [] for day in days}
    for first, last in _runs(days):
        for fact in await turn_facts(session, day_start(first), day_start(last + timedelta(days=1))):
            out[date.fromordinal(fact.day)].append(fact)
    return {day: canonical(facts) for day, facts in out.items()}


async def night_facts(
    session: AsyncSession, tenant_id: str, night: date, baseline_days: int, now: datetime
) -> NightFacts:
    """Baseline (the `baseline_days` before `night`) and last night, storing each finished baseline day read raw."""
    first, last = night - timedelta(days=baseline_days), night - timedelta(days=1)
    stored = await stored_days(session, first, last)
    wanted = [first + timedelta(days=n) for n in range(baseline_days)]
    missing = [day for day in wanted if day not in stored]
    raw = await raw_days(session, [*missing, night])
    for day in missing:
        if finished(day, now):
            await store_day(session, tenant_id, day, raw[day])
    by_day = {**stored, **raw}
    baseline = [fact for day in wanted for fact in by_day[day]]
    with_turns = sum(1 for day in wanted if by_day[day])
    return NightFacts(baseline, raw[night], with_turns, len(wanted) - len(missing), len(missing) + 1)
