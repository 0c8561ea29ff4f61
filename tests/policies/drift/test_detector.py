"""The detector as pure functions: quiet on noise, loud on real shifts, and a cost split that adds up."""

from __future__ import annotations

from decimal import Decimal

import pytest

from benchmarks.drift_sim import CHEAP, DEAR, Shift, Tenant, day_of, day_rng
from policies.drift.decompose import EFFECTS, decompose
from policies.drift.detector import MODEL_PIN, SAFE_MODE, analyse
from policies.drift.facts import DriftConfig, TurnFact
from policies.drift.fdr import control_false_alarms
from policies.drift.stats import (
    COST_PER_TURN,
    LATENCY_P50,
    LATENCY_P95,
    MODEL_MIX,
    PRICE_PER_1K_TOKENS,
)

NIGHT = 14


def _tenant(kind: str | None = None, turns: float = 2000.0) -> Tenant:
    shifts = [Shift(0, NIGHT, kind)] if kind else []
    return Tenant(index=0, agents=("support",), turns_per_day=turns, dear_share=0.2, tool_rate=0.5, shifts=shifts)


def _windows(tenant: Tenant, seed: int) -> tuple[list[TurnFact], list[TurnFact]]:
    days = [day_of(day_rng(seed, 0, d), tenant, d) for d in range(NIGHT + 1)]
    return [f for day in days[:NIGHT] for f in day], days[NIGHT]


def _fact(model: str, cost: float, tokens: int = 1000) -> TurnFact:
    return TurnFact(agent="a", model=model, cost_usd=cost, tokens=tokens, latency_ms=1000.0, failed=False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_tenant_without_drift_raises_no_alarm(seed: int) -> None:
    baseline, current = _windows(_tenant(), seed)
    result = analyse(baseline, NIGHT, current)
    assert result.tests, "a tenant of this size is tested"
    assert result.findings == [] and not result.detected and result.advice == []


@pytest.mark.parametrize(
    ("kind", "metrics"),
    [
        ("latency", {LATENCY_P50, LATENCY_P95}),
        ("mix", {COST_PER_TURN, MODEL_MIX}),
        ("price", {PRICE_PER_1K_TOKENS}),
    ],
)
def test_an_injected_shift_is_found_in_the_metrics_it_moves(kind: str, metrics: set[str]) -> None:
    baseline, current = _windows(_tenant(kind), seed=5)
    found = {f.metric for f in analyse(baseline, NIGHT, current).findings}
    assert found & metrics, found


def test_advice_follows_the_cause_of_a_cost_rise() -> None:
    mix = analyse(*_with_days(_windows(_tenant("mix"), seed=5)))
    pins = [a for a in mix.advice if a.kind == MODEL_PIN]
    assert pins and pins[0].params == {"agent": "support", "model": CHEAP}
    price = analyse(*_with_days(_windows(_tenant("price"), seed=5)))
    safe = [a for a in price.advice if a.kind == SAFE_MODE]
    assert safe and Decimal(safe[0].params["daily_soft_usd"]) > 0


def _with_days(windows: tuple[list[TurnFact], list[TurnFact]]) -> tuple[list[TurnFact], int, list[TurnFact]]:
    return windows[0], NIGHT, windows[1]


def test_below_the_minimum_samples_nothing_is_tested() -> None:
    baseline, current = _windows(_tenant("latency", turns=40.0), seed=2)
    result = analyse(baseline, NIGHT, current, DriftConfig(min_current_turns=60, min_baseline_turns=600))
    assert result.tests == [] and not result.detected


def test_a_significant_but_small_change_is_no_finding() -> None:
    # 2 % dearer per turn on 30,000 turns, days all alike: certain, and too small to act on.
    baseline = [_fact(CHEAP, 0.001 + (i % 7) * 1e-6) for i in range(28_000)]
    current = [_fact(CHEAP, 0.00102 + (i % 7) * 1e-6) for i in range(2_000)]
    result = analyse(baseline, 14, current, DriftConfig(wobble_floor=0.0))
    cost = [t for t in result.tests if t.metric == COST_PER_TURN]
    assert cost and all(t.p_value < 1e-6 for t in cost)
    assert not any(t.flagged for t in cost)


def test_a_calm_baseline_still_allows_for_ordinary_daily_wobble() -> None:
    # 4 % dearer: certain against a baseline that never varied, ordinary against the assumed 2 % floor.
    baseline = [_fact(CHEAP, 0.001 + (i % 7) * 1e-6) for i in range(28_000)]
    current = [_fact(CHEAP, 0.00104 + (i % 7) * 1e-6) for i in range(2_000)]
    without = analyse(baseline, 14, current, DriftConfig(wobble_floor=0.0, min_relative_effect=0.03))
    assert any(t.flagged for t in without.tests if t.metric == COST_PER_TURN)
    floored = analyse(baseline, 14, current, DriftConfig(min_relative_effect=0.03))
    assert not any(t.flagged for t in floored.tests if t.metric == COST_PER_TURN)


def test_a_better_night_is_no_alarm() -> None:
    baseline = [_fact(CHEAP, 0.001 + (i % 7) * 1e-6) for i in range(14_000)]
    cheaper = [_fact(CHEAP, 0.0005 + (i % 7) * 1e-6) for i in range(1_000)]
    assert analyse(baseline, 14, cheaper).findings == []


def test_a_finding_is_significant_after_the_weighted_step_and_large_enough() -> None:
    baseline, current = _windows(_tenant("latency"), seed=4)
    tests = analyse(baseline, NIGHT, current).tests
    again = control_false_alarms(tests, DriftConfig())
    assert all(t.flagged == (t.q_value <= DriftConfig().fdr and t.large_enough) for t in again)
    assert all(0 <= t.q_value <= 1 for t in again)


def test_the_cost_split_adds_up_to_the_change_exactly() -> None:
    baseline, current = _windows(_tenant("mix"), seed=9)
    split = decompose("support", baseline, NIGHT, current)
    assert sum(split.effects().values()) == split.change_usd
    assert split.change_usd == split.current_usd - split.baseline_daily_usd
    assert split.dominant in EFFECTS


def test_each_cause_lands_in_its_own_effect() -> None:
    base = [_fact(CHEAP, 0.001)] * 80 + [_fact(DEAR, 0.005)] * 20
    more = decompose("a", base, 1, [_fact(CHEAP, 0.001)] * 160 + [_fact(DEAR, 0.005)] * 40)
    assert more.volume_usd == more.change_usd == Decimal("0.180000")
    moved = decompose("a", base, 1, [_fact(CHEAP, 0.001)] * 60 + [_fact(DEAR, 0.005)] * 40)
    assert moved.mix_usd == moved.change_usd == Decimal("0.080000") and moved.volume_usd == 0
    dearer = decompose("a", base, 1, [_fact(CHEAP, 0.001)] * 80 + [_fact(DEAR, 0.006)] * 20)
    assert dearer.price_usd == dearer.change_usd == Decimal("0.020000") and dearer.usage_usd == 0
    longer = decompose("a", base, 1, [_fact(CHEAP, 0.002, 2000)] * 80 + [_fact(DEAR, 0.005)] * 20)
    assert longer.usage_usd == longer.change_usd == Decimal("0.080000") and longer.price_usd == 0
    new_model = decompose("a", base, 1, [*base[:99], _fact("new-model", 0.01)])
    assert sum(new_model.effects().values()) == new_model.change_usd


def test_a_baseline_needs_a_day() -> None:
    with pytest.raises(ValueError):
        decompose("a", [], 0, [])
