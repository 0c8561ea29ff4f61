"""The weighted false-alarm step and the like-for-like latency tests."""

from __future__ import annotations

import numpy as np
from scipy import stats

from benchmarks.drift_sim import CHEAP, DEAR, Shift, Tenant, day_of, day_rng
from policies.drift.detector import analyse
from policies.drift.facts import ALL_MODELS, TurnFact
from policies.drift.fdr import adjusted, weights
from policies.drift.stats import LATENCY_P50, LATENCY_P95, MODEL_MIX, MetricTest

NIGHT = 14


def _t(metric: str, n: int, p: float, model: str = ALL_MODELS) -> MetricTest:
    return MetricTest("a", model, metric, 1000, n, 1.0, 1.1, 0.1, 0.05, p)


def test_every_metric_gets_the_same_share_whatever_its_number_of_segments() -> None:
    tests = [_t("latency_p50_ms", 1000, 0.5), *(_t("cost_per_turn", 100, 0.5, f"m{i}") for i in range(9))]
    w = weights(tests)
    assert np.isclose(w.mean(), 1.0)
    # One latency test carries its metric's half; nine cost tests share the other half.
    assert np.isclose(w[0], 5.0) and np.allclose(w[1:], 5.0 / 9)


def test_within_a_metric_the_larger_segment_gets_more_weight() -> None:
    w = weights([_t("latency_p50_ms", 3000, 0.5), _t("latency_p50_ms", 1000, 0.5, CHEAP)])
    assert w[0] == 3 * w[1]


def test_with_equal_weights_it_is_benjamini_hochberg() -> None:
    p = np.random.default_rng(3).uniform(0, 0.2, 40)
    assert np.allclose(adjusted(p, np.ones(40)), stats.false_discovery_control(p, method="bh"))


def test_a_heavier_test_needs_less_evidence() -> None:
    p = np.array([0.004, 0.004])
    q = adjusted(p, np.array([1.6, 0.4]))
    assert q[0] < q[1]


def _tenant(kind: str | None) -> Tenant:
    shifts = [Shift(0, NIGHT, kind)] if kind else []
    return Tenant(index=0, agents=("support",), turns_per_day=2000.0, dear_share=0.2, tool_rate=0.5, shifts=shifts)


def _windows(tenant: Tenant, seed: int) -> tuple[list[TurnFact], list[TurnFact]]:
    days = [day_of(day_rng(seed, 0, d), tenant, d) for d in range(NIGHT + 1)]
    return [f for day in days[:NIGHT] for f in day], days[NIGHT]


def test_turns_moving_to_the_slower_model_are_a_mix_change_not_a_slowdown() -> None:
    baseline, current = _windows(_tenant("mix"), seed=6)
    result = analyse(baseline, NIGHT, current)
    latency = [t for t in result.tests if t.metric == LATENCY_P50 and t.model == ALL_MODELS]
    # The agent's raw median rises (more turns on the slow dear model), each model's turns are as fast as ever.
    assert latency and latency[0].current > latency[0].baseline
    assert abs(latency[0].effect) < 0.05 and not latency[0].flagged
    assert any(f.metric == MODEL_MIX for f in result.findings)


def test_a_slowdown_is_measured_like_for_like_across_models() -> None:
    baseline, current = _windows(_tenant("latency"), seed=6)
    tests = {t.metric: t for t in analyse(baseline, NIGHT, current).tests if t.model == ALL_MODELS}
    # Every turn 10 % slower (times the night's own wobble of about 2 %): p50 and p95 effects near +10 %.
    assert 0.04 < tests[LATENCY_P50].effect < 0.16 and 0.02 < tests[LATENCY_P95].effect < 0.2
    assert tests[LATENCY_P50].p_value < 0.01


def test_a_move_to_the_cheaper_model_is_no_mix_alarm() -> None:
    base = [TurnFact("a", CHEAP, 0.001, 1000, 1000.0, False, day=d % 14) for d in range(1400)]
    base += [TurnFact("a", DEAR, 0.005, 1000, 2000.0, False, day=d % 14) for d in range(600)]
    cur = [TurnFact("a", CHEAP, 0.001, 1000, 1000.0, False)] * 90 + [
        TurnFact("a", DEAR, 0.005, 1000, 2000.0, False)
    ] * 10
    [mix] = [t for t in analyse(base, 14, cur).tests if t.metric == MODEL_MIX]
    assert mix.effect < 0 and mix.p_value > 0.5 and not mix.flagged
