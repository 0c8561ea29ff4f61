"""Nightly drift analysis on a simulated platform, against Evidently's default drift tests on the same windows.

50 tenants, 14 days of history, then 30 nightly runs (1,500 tenant-nights) with 20 shifts injected on days
of those 30 (`benchmarks.drift_sim`: p95 latency +10 %, cost per turn +15 % through the model mix, a provider
price +10 %). Each night compares a tenant's last day with its trailing 14 days, as `NightlyDriftWorkflow`
does, with `policies.drift.detector.analyse`. Reported:

- caught: shifts found by the first nightly run after they start, in the metrics they move;
- false alarms: tenant-nights with any finding before any shift of that tenant (per 30 tenant-days);
- the nightly analysis: seconds per night for all 50 tenants (the facts already read), worst and median.

The anchor, same windows, same run: Evidently's default column drift tests (its own choice of test per
column and size: Wasserstein distance > 0.1 on numeric columns and Jensen-Shannon > 0.1 on categorical ones
above 1,000 reference rows, Kolmogorov-Smirnov or chi-squared at p < 0.05 below), alarm on any drifted
column; it runs on the shifted nights and on `--evidently-tenants` tenants' every night. Needs the
`drift-bench` extra (`pip install -e '.[drift-bench]'`); without it the anchor is skipped.

    python -m benchmarks drift [--tenants 50 --nights 30 --shifts 20 --seed 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from benchmarks.drift_sim import Shift, Tenant, day_of, day_rng, make_tenants
from policies.drift.detector import analyse
from policies.drift.facts import TurnFact
from policies.drift.stats import (
    COST_PER_TURN,
    LATENCY_P50,
    LATENCY_P95,
    MODEL_MIX,
    PRICE_PER_1K_TOKENS,
    MetricTest,
)

BASELINE_DAYS = 14
# The metrics a shift of each kind moves: a finding in one of them counts as catching it.
MOVES = {
    "latency": {LATENCY_P50, LATENCY_P95},
    "mix": {COST_PER_TURN, MODEL_MIX},
    "price": {PRICE_PER_1K_TOKENS, COST_PER_TURN},
}


def _evidently_alarm(baseline: Sequence[TurnFact], current: Sequence[TurnFact]) -> set[str]:
    import pandas as pd
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    def frame(facts: Sequence[TurnFact]) -> Any:
        return pd.DataFrame(
            {
                "cost_usd": [f.cost_usd for f in facts],
                "tokens": [f.tokens for f in facts],
                "latency_ms": [f.latency_ms for f in facts],
                "model": [f.model for f in facts],
                "failed": [str(f.failed) for f in facts],
                "tool_failures": [f.tool_failures for f in facts],
            }
        )

    ref, cur = frame(baseline), frame(current)
    drifted = set()
    for column in ref.columns:
        kind = ColumnType.Categorical if column in ("model", "failed") else ColumnType.Numerical
        r, c = ref[column].dropna(), cur[column].dropna()
        test = get_stattest(r, c, kind, None)
        if bool(test(r, c, kind, None).drifted):
            drifted.add(column)
    return drifted


def _has_evidently() -> bool:
    try:
        import evidently  # noqa: F401
    except ImportError:
        return False
    return True


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = day_rng(args.seed, 1_000_000, 0)
    first, last = BASELINE_DAYS, BASELINE_DAYS + args.nights - 1
    tenants = make_tenants(
        rng,
        args.tenants,
        min_turns=args.min_turns,
        max_turns=args.max_turns,
        shifts=args.shifts,
        first_day=first,
        last_day=last,
    )
    anchor = _has_evidently()
    anchor_tenants = {t.index for t in tenants if not t.shifts}
    anchor_tenants = set(sorted(anchor_tenants)[: args.evidently_tenants])
    night_seconds: dict[int, float] = defaultdict(float)
    caught: list[tuple[Shift, bool, bool | None]] = []
    misses: list[str] = []
    clean_nights = false_alarms = 0
    ev_clean = ev_false = 0
    alarms_after_shift = nights_after_shift = 0
    for tenant in tenants:
        days = [day_of(day_rng(args.seed, tenant.index, d), tenant, d) for d in range(first)]
        for night in range(first, last + 1):
            days.append(day_of(day_rng(args.seed, tenant.index, night), tenant, night))
            baseline = [f for day in days[-BASELINE_DAYS - 1 : -1] for f in day]
            current = days[-1]
            started = time.perf_counter()
            result = analyse(baseline, BASELINE_DAYS, current)
            night_seconds[night] += time.perf_counter() - started
            flagged = {f.metric for f in result.findings}
            starting = [s for s in tenant.shifts if s.day == night]
            active = _active(tenant, night)
            if starting:
                ev = bool(_evidently_alarm(baseline, current)) if anchor else None
                caught.extend((s, bool(flagged & MOVES[s.kind]), ev) for s in starting)
                misses.extend(_miss(s, len(current), result.tests) for s in starting if not flagged & MOVES[s.kind])
            elif active:
                nights_after_shift += 1
                alarms_after_shift += bool(flagged)
            else:
                clean_nights += 1
                false_alarms += bool(flagged)
                if anchor and tenant.index in anchor_tenants:
                    ev_clean += 1
                    ev_false += bool(_evidently_alarm(baseline, current))
            days.pop(0)
    seconds = list(night_seconds.values())
    return {
        "tenants": args.tenants,
        "nights": args.nights,
        "shifts": len(caught),
        "caught": sum(c for _s, c, _e in caught),
        "caught_by_kind": {
            k: f"{sum(c for s, c, _e in caught if s.kind == k)}/{sum(s.kind == k for s, _c, _e in caught)}"
            for k in MOVES
        },
        "clean_tenant_nights": clean_nights,
        "false_alarms": false_alarms,
        "false_alarms_per_30_tenant_days": 30 * false_alarms / max(clean_nights, 1),
        "alarms_on_nights_after_a_shift": f"{alarms_after_shift}/{nights_after_shift}",
        "misses": misses,
        "night_seconds_max": max(seconds),
        "night_seconds_median": statistics.median(seconds),
        "evidently": None
        if not anchor
        else {
            "caught": sum(bool(e) for _s, _c, e in caught),
            "clean_tenant_nights": ev_clean,
            "false_alarms": ev_false,
            "false_alarms_per_30_tenant_days": 30 * ev_false / max(ev_clean, 1),
        },
    }


def _miss(shift: Shift, turns: int, tests: Sequence[MetricTest]) -> str:
    """A missed shift and its closest test: how far from a finding it was."""
    best = min((t for t in tests if t.metric in MOVES[shift.kind]), key=lambda t: t.q_value, default=None)
    if best is None:
        return f"{shift.kind} on tenant {shift.tenant} ({turns} turns): not tested"
    return (
        f"{shift.kind} on tenant {shift.tenant} ({turns} turns): closest {best.metric} of {best.agent}/{best.model},"
        f" effect {best.effect:+.1%}, p {best.p_value:.1e}, q {best.q_value:.1e}"
    )


def _active(tenant: Tenant, night: int) -> bool:
    return any(s.day < night for s in tenant.shifts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks drift", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--shifts", type=int, default=20)
    parser.add_argument("--min-turns", type=int, default=800)
    parser.add_argument("--max-turns", type=int, default=2500)
    parser.add_argument("--evidently-tenants", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    out = run(parser.parse_args(argv))
    ev = out["evidently"]
    print(f"tenants {out['tenants']}, nightly runs {out['nights']}, shifts injected {out['shifts']}")
    print(f"ours:      caught by the next nightly run {out['caught']}/{out['shifts']} {out['caught_by_kind']}")
    print(
        f"ours:      false alarms {out['false_alarms']} in {out['clean_tenant_nights']} clean tenant-nights"
        f" = {out['false_alarms_per_30_tenant_days']:.3f} per 30 tenant-days"
    )
    print(f"ours:      alarms on nights after a shift began (still drifted) {out['alarms_on_nights_after_a_shift']}")
    for miss in out["misses"]:
        print(f"ours:      missed {miss}")
    print(
        f"ours:      nightly analysis of {out['tenants']} tenants: max {out['night_seconds_max']:.2f} s,"
        f" median {out['night_seconds_median']:.2f} s"
    )
    if ev is None:
        print("evidently: not installed (pip install -e '.[drift-bench]'); anchor skipped")
    else:
        print(f"evidently: caught {ev['caught']}/{out['shifts']} (any column drifted on the shift's first night)")
        print(
            f"evidently: false alarms {ev['false_alarms']} in {ev['clean_tenant_nights']} clean tenant-nights"
            f" = {ev['false_alarms_per_30_tenant_days']:.2f} per 30 tenant-days"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
