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
column; it runs on the shifted nights and on the clean nights the detector analyses (of the first
`--evidently-tenants` tenants, all by default), so its false alarms count on the same nights. Needs the
`drift-bench` extra (`pip install -e '.[drift-bench]'`); without it the anchor is skipped.

    python -m benchmarks drift [--tenants 50 --nights 30 --shifts 20 --seed 7]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from benchmarks.drift_sim import Shift, Tenant, day_of, day_rng, make_tenants
from policies.drift.detector import DriftAnalysis, analyse
from policies.drift.facts import ALL_AGENTS, PRIORITY_SHARES, DriftConfig, TurnFact
from policies.drift.fdr import control_false_alarms
from policies.drift.stats import (
    COST_PER_TURN,
    LATENCY_P50,
    LATENCY_P95,
    MODEL_MIX,
    PRICE_PER_1K_TOKENS,
    MetricTest,
)

BASELINE_DAYS = 14
# The detector's settings of the previous release, on the same nights: half the false-alarm budget (q = 1/60) and
# latency p50 a share of 3 (everything else as today).
PREVIOUS_SHARES = tuple((m, 3.0 if m == LATENCY_P50 else s) for m, s in PRIORITY_SHARES)
BEFORE = DriftConfig(fdr=1 / 60, metric_shares=PREVIOUS_SHARES)
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


class _Tally:
    """One detector configuration's outcome over the run."""

    def __init__(self) -> None:
        self.night_seconds: dict[int, float] = defaultdict(float)
        # CPU seconds of the same analyses: what the run costs whatever else shares the machine.
        self.night_cpu: dict[int, float] = defaultdict(float)
        self.caught: list[tuple[Shift, bool]] = []
        self.misses: list[str] = []
        self.clean_nights = self.false_alarms = 0
        self.alarms_after_shift = self.nights_after_shift = 0

    def add(self, tenant: Tenant, night: int, turns: int, tests: list[MetricTest]) -> None:
        flagged = {t.metric for t in tests if t.flagged}
        starting = [s for s in tenant.shifts if s.day == night]
        if starting:
            self.caught.extend((s, bool(flagged & MOVES[s.kind])) for s in starting)
            self.misses.extend(_miss(s, turns, tests) for s in starting if not flagged & MOVES[s.kind])
        elif _active(tenant, night):
            self.nights_after_shift += 1
            self.alarms_after_shift += bool(flagged)
        else:
            self.clean_nights += 1
            self.false_alarms += bool(flagged)

    def summary(self) -> dict[str, Any]:
        seconds = list(self.night_seconds.values()) or [math.nan]
        cpu = list(self.night_cpu.values()) or [math.nan]
        return {
            "shifts": len(self.caught),
            "caught": sum(c for _s, c in self.caught),
            "caught_by_kind": {
                k: f"{sum(c for s, c in self.caught if s.kind == k)}/{sum(s.kind == k for s, _c in self.caught)}"
                for k in MOVES
            },
            "clean_tenant_nights": self.clean_nights,
            "false_alarms": self.false_alarms,
            "false_alarms_per_30_tenant_days": 30 * self.false_alarms / max(self.clean_nights, 1),
            "alarms_on_nights_after_a_shift": f"{self.alarms_after_shift}/{self.nights_after_shift}",
            "misses": self.misses,
            "night_seconds_max": max(seconds),
            "night_seconds_median": statistics.median(seconds),
            "night_cpu_seconds_median": statistics.median(cpu),
        }


def _sweep(after: DriftConfig) -> dict[str, DriftConfig]:
    """The level, the widest segment's share and the metric shares around the chosen ones, on the same p-values."""
    out = {}
    share_sets = {"equal": None, "previous": PREVIOUS_SHARES, "priority": after.metric_shares}
    for fdr in (0.01, 1 / 60, 1 / 30):
        for widest in (0.0, 0.75):
            for label, shares in share_sets.items():
                name = f"q={fdr:.4f} widest={widest} shares={label}"
                out[name] = replace(after, fdr=fdr, widest_share=widest, metric_shares=shares)
    return out


def _variant(result: DriftAnalysis, cfg: DriftConfig) -> list[MetricTest]:
    tests = [t for t in result.tests if cfg.pooled_mix or not (t.metric == MODEL_MIX and t.agent == ALL_AGENTS)]
    return control_false_alarms(tests, cfg)


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
    # Evidently runs on the same clean tenant-nights as the detector (before any shift of the tenant).
    anchor_tenants = {t.index for t in tenants[: args.evidently_tenants]}
    after = DriftConfig(fdr=args.fdr)
    variants = {"before": BEFORE, "after": after, **_sweep(after)}
    tallies = {name: _Tally() for name in variants}
    ev_caught: list[bool] = []
    ev_clean = ev_false = 0
    for tenant in tenants:
        days = [day_of(day_rng(args.seed, tenant.index, d), tenant, d) for d in range(first)]
        for night in range(first, last + 1):
            days.append(day_of(day_rng(args.seed, tenant.index, night), tenant, night))
            starting = [s for s in tenant.shifts if s.day == night]
            if not starting and night % args.every:
                days.pop(0)  # a quicker run: only every `--every`th night without a starting shift is analysed
                continue
            baseline = [f for day in days[-BASELINE_DAYS - 1 : -1] for f in day]
            current = days[-1]
            # One analysis with every test; each variant is its own false-alarm step over the same p-values,
            # which is exactly what `analyse` with that configuration computes (the pooled test aside).
            whole_night = night % args.every == 0  # every tenant analysed that night: its time is the run's
            started, cpu = time.perf_counter(), time.process_time()
            result = analyse(baseline, BASELINE_DAYS, current, after)
            if whole_night:
                tallies["after"].night_seconds[night] += time.perf_counter() - started
                tallies["after"].night_cpu[night] += time.process_time() - cpu
            tallies["after"].add(tenant, night, len(current), result.tests)
            # "Before" differs from "after" in the false-alarm step only (the same tests and p-values).
            for name, cfg in variants.items():
                if name != "after":
                    tallies[name].add(tenant, night, len(current), _variant(result, cfg))
            if starting and anchor:
                ev = bool(_evidently_alarm(baseline, current))
                ev_caught.extend(ev for _s in starting)
            elif anchor and not _active(tenant, night) and tenant.index in anchor_tenants:
                ev_clean += 1
                ev_false += bool(_evidently_alarm(baseline, current))
            days.pop(0)
    return {
        "tenants": args.tenants,
        "nights": args.nights,
        **{name: tally.summary() for name, tally in tallies.items()},
        "sweep": [name for name in variants if name not in ("before", "after")],
        "evidently": None
        if not anchor
        else {
            "caught": sum(ev_caught),
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
    parser.add_argument(
        "--evidently-tenants", type=int, default=50, help="tenants whose clean nights Evidently also runs on"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--every", type=int, default=1, help="analyse every shift night but only every Nth other night (quicker)"
    )
    parser.add_argument("--fdr", type=float, default=DriftConfig().fdr, help="the level of the detector after")
    out = run(parser.parse_args(argv))
    ev = out["evidently"]
    print(f"tenants {out['tenants']}, nightly runs {out['nights']}, shifts injected {out['after']['shifts']}")
    for name in ("before", "after"):
        res = out[name]
        tag = f"{name}:".ljust(10)
        print(f"{tag} caught by the next nightly run {res['caught']}/{res['shifts']} {res['caught_by_kind']}")
        print(
            f"{tag} false alarms {res['false_alarms']} in {res['clean_tenant_nights']} clean tenant-nights"
            f" = {res['false_alarms_per_30_tenant_days']:.3f} per 30 tenant-days"
        )
        print(f"{tag} alarms on nights after a shift began (still drifted) {res['alarms_on_nights_after_a_shift']}")
        for miss in res["misses"]:
            print(f"{tag} missed {miss}")
    res = out["after"]
    print(
        f"nightly analysis of {out['tenants']} tenants: max {res['night_seconds_max']:.2f} s,"
        f" median {res['night_seconds_median']:.2f} s (CPU {res['night_cpu_seconds_median']:.2f} s)"
    )
    print("sweep (same tests, the false-alarm step only):")
    for name in out["sweep"]:
        res = out[name]
        print(
            f"  {name.ljust(34)} caught {res['caught']}/{res['shifts']} {res['caught_by_kind']},"
            f" false alarms {res['false_alarms']}/{res['clean_tenant_nights']}"
            f" = {res['false_alarms_per_30_tenant_days']:.3f} per 30 tenant-days"
        )
    if ev is None:
        print("evidently: not installed (pip install -e '.[drift-bench]'); anchor skipped")
    else:
        shifts = out["after"]["shifts"]
        print(f"evidently: caught {ev['caught']}/{shifts} (any column drifted on the shift's first night)")
        print(
            f"evidently: false alarms {ev['false_alarms']} in {ev['clean_tenant_nights']} clean tenant-nights"
            f" = {ev['false_alarms_per_30_tenant_days']:.2f} per 30 tenant-days"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
