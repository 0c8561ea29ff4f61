"""The tenant-wide model-mix test and the widest segment's first share of the level."""

from __future__ import annotations

import numpy as np

from benchmarks.drift_sim import CHEAP, DEAR, Shift, Tenant, day_of, day_rng
from policies.drift.detector import analyse
from policies.drift.facts import ALL_AGENTS, ALL_MODELS, DriftConfig, TurnFact
from policies.drift.fdr import weights
from policies.drift.pooled import pooled_mix_test
from policies.drift.stats import MODEL_MIX, Columns, MetricTest

NIGHT = 14


def _windows(kind: str | None, seed: int) -> tuple[list[TurnFact], list[TurnFact]]:
    shifts = [Shift(0, NIGHT, kind)] if kind else []
    tenant = Tenant(0, ("support", "sales"), turns_per_day=900.0, dear_share=0.2, tool_rate=0.5, shifts=shifts)
    days = [day_of(day_rng(seed, 0, d), tenant, d) for d in range(NIGHT + 1)]
    return [f for day in days[:NIGHT] for f in day], days[NIGHT]


def test_pooling_the_agents_sees_a_tenant_wide_mix_move_better_than_each_agent() -> None:
    baseline, current = _windows("mix", seed=11)
    mixes = [t for t in analyse(baseline, NIGHT, current).tests if t.metric == MODEL_MIX]
    pooled = [t for t in mixes if t.agent == ALL_AGENTS]
    per_agent = [t for t in mixes if t.agent != ALL_AGENTS]
    assert len(pooled) == 1 and len(per_agent) == 2
    assert pooled[0].model == ALL_MODELS and 0.08 < pooled[0].effect < 0.25
    assert pooled[0].p_value < min(t.p_value for t in per_agent)
    assert pooled[0].n_current == len(current)


def test_turns_moving_between_agents_are_no_mix_move() -> None:
    # "sales" costs five times "support" on the same model; the night moves turns to sales, no model changes.
    def turn(agent: str, model: str, day: int = 0) -> TurnFact:
        cost = {CHEAP: 0.001, DEAR: 0.005}[model] * (5 if agent == "sales" else 1)
        return TurnFact(agent, model, cost, 1000, 1000.0, False, day=day)

    base = [turn(a, m, d % 14) for d in range(700) for a, m in (("support", CHEAP), ("sales", CHEAP))]
    base += [turn(a, DEAR, d % 14) for d in range(175) for a in ("support", "sales")]
    cur = [turn("sales", CHEAP)] * 160 + [turn("sales", DEAR)] * 40 + [turn("support", CHEAP)] * 40
    cur += [turn("support", DEAR)] * 10
    test = pooled_mix_test(Columns(base), Columns(cur), DriftConfig())
    assert test is not None and abs(test.effect) < 1e-9 and test.p_value >= 0.5


def test_one_agent_has_no_pooled_test() -> None:
    base = [TurnFact("a", m, 0.001, 1000, 1000.0, False, day=d % 14) for d in range(300) for m in (CHEAP, DEAR)]
    assert pooled_mix_test(Columns(base), Columns(base[:100]), DriftConfig()) is None
    assert not any(t.agent == ALL_AGENTS for t in analyse(base, 14, base[:100]).tests)


def _t(metric: str, n: int, model: str = ALL_MODELS) -> MetricTest:
    return MetricTest("a", model, metric, 1000, n, 1.0, 1.1, 0.1, 0.05, 0.5)


def test_the_widest_segment_gets_its_share_first_and_the_mean_weight_stays_one() -> None:
    tests = [_t("latency_p50_ms", 1000), _t("latency_p50_ms", 800, CHEAP), _t("latency_p50_ms", 200, DEAR)]
    tests.append(_t("cost_per_turn", 1000))
    plain, first = weights(tests), weights(tests, 0.5)
    assert np.isclose(plain.mean(), 1.0) and np.isclose(first.mean(), 1.0)
    # Latency's half of the weight (2.0 of 4): plain 1.0 / 0.8 / 0.2; with half to the widest first 1.5 / 0.4 / 0.1.
    assert np.allclose(plain[:3], [1.0, 0.8, 0.2]) and np.allclose(first[:3], [1.5, 0.4, 0.1])
    assert np.isclose(first[3], 2.0)
