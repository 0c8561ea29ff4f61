"""The canary rule on synthetic arms: minimum samples, each metric's verdict, and its error rate when the canary
is the control's twin (it must rarely roll back or promote wrongly, whatever the number of looks)."""

from __future__ import annotations

import random

from contracts.canary import CanaryDecision, CanaryRule
from router.canary_rule import Arm, compare

RULE = CanaryRule(min_turns=200)


def _arm(n: int, *, fail: float = 0.02, latency: float = 800.0, cost: float = 0.002, seed: int = 0, **kw: int) -> Arm:
    rng = random.Random(seed)
    failed = [rng.random() < fail for _ in range(n)]
    return Arm(
        turns=n,
        failed=sum(failed),
        latencies_ms=[latency * rng.lognormvariate(0, 0.3) for f in failed if not f],
        costs_usd=[cost * rng.lognormvariate(0, 0.3) for _ in range(n)],
        **kw,
    )


def _metric(verdict, name: str):  # type: ignore[no-untyped-def]
    return next(m for m in verdict.metrics if m.metric == name)


def test_no_decision_before_each_arm_has_its_minimum() -> None:
    verdict = compare(_arm(150, fail=0.9), _arm(5000, seed=1), RULE)
    assert verdict.decision == CanaryDecision.CONTINUE and "200 turns" in verdict.reason
    assert verdict.metrics == [] and verdict.canary_turns == 150


def test_an_equal_canary_with_enough_turns_is_promoted() -> None:
    verdict = compare(_arm(20000, seed=1), _arm(20000, seed=2), RULE)
    assert verdict.decision == CanaryDecision.PROMOTE, verdict
    assert {m.metric for m in verdict.metrics} == {"error_rate", "latency", "cost"}  # no evals: not compared
    assert all(m.verdict == "within_margin" for m in verdict.metrics)


def test_each_metric_alone_rolls_the_canary_back() -> None:
    control = _arm(5000, seed=2)
    for metric, canary in (
        ("error_rate", _arm(5000, fail=0.08, seed=1)),
        ("latency", _arm(5000, latency=1200.0, seed=1)),
        ("cost", _arm(5000, cost=0.004, seed=1)),
    ):
        verdict = compare(canary, control, RULE)
        assert verdict.decision == CanaryDecision.ROLL_BACK, (metric, verdict)
        assert _metric(verdict, metric).verdict == "worse" and metric in verdict.reason


def test_a_small_harm_within_the_margin_is_not_a_rollback() -> None:
    # 5% slower against a 10% margin, enough turns to see it: promoted.
    verdict = compare(_arm(40000, latency=840.0, seed=1), _arm(40000, seed=2), RULE)
    assert _metric(verdict, "latency").harm > 0 and verdict.decision == CanaryDecision.PROMOTE


def test_eval_pass_rates_count_only_with_enough_tasks_on_both_arms() -> None:
    few = compare(
        _arm(5000, seed=1, eval_passed=5, eval_total=20), _arm(5000, seed=2, eval_passed=90, eval_total=100), RULE
    )
    assert "eval_pass_rate" not in {m.metric for m in few.metrics}
    worse = compare(
        _arm(5000, seed=1, eval_passed=300, eval_total=400), _arm(5000, seed=2, eval_passed=380, eval_total=400), RULE
    )
    assert worse.decision == CanaryDecision.ROLL_BACK and _metric(worse, "eval_pass_rate").verdict == "worse"
    assert _metric(worse, "eval_pass_rate").canary == 0.75


def test_an_undecided_metric_keeps_collecting() -> None:
    verdict = compare(_arm(400, seed=1), _arm(400, seed=2), RULE)
    assert verdict.decision == CanaryDecision.CONTINUE and "not yet conclusive" in verdict.reason


def test_a_twin_canary_is_rarely_rolled_back_over_many_looks() -> None:
    """Family-wise: 40 canaries equal to their control, each looked at 8 times as it grows; at alpha 0.05
    spread over metrics and looks, wrong rollbacks stay rare (at most 2 of 40 expected even at the bound)."""
    wrong = 0
    for trial in range(40):
        for look in range(1, 9):
            n = 100 * look
            verdict = compare(_arm(n, seed=trial * 1000 + look), _arm(n, seed=trial * 1000 + 500 + look), RULE, 8)
            if verdict.decision == CanaryDecision.ROLL_BACK:
                wrong += 1
                break
    assert wrong <= 2, wrong


def test_a_free_control_makes_any_paid_canary_dearer() -> None:
    verdict = compare(_arm(500, seed=1), _arm(500, cost=0.0, seed=2), RULE)
    assert _metric(verdict, "cost").verdict == "worse"
    free = compare(_arm(500, cost=0.0, seed=1), _arm(500, cost=0.0, seed=2), RULE)
    assert _metric(free, "cost").verdict == "within_margin"
