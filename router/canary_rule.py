"""The canary's statistical rule: is the canary worse than the control by more than the tenant tolerates?

For each metric the harm d (how much worse the canary is; positive: worse) gets a two-sided confidence
interval at level 1 - alpha', where alpha' = alpha / (metrics compared x planned looks): Bonferroni over the
metrics and over every look the workflow may make, so the chance that any look wrongly promotes or rolls
back stays under `alpha` however often the workflow checks. Then, once both arms have `min_turns` turns:

- roll back when some metric's interval lies wholly above its margin (worse than tolerated);
- promote when every metric's interval lies wholly below its margin (no worse than tolerated);
- otherwise keep collecting (the workflow rolls back when its time is up: an inconclusive canary is not
  promoted).

The metrics, each from the platform's own records (`router/canary_store.py`):

- error rate: turns without an answer; difference of proportions with the Agresti-Caffo interval (one
  success and one failure added to each arm), margin absolute;
- latency: answered turns, difference of mean log latency (Welch), margin on the ratio of geometric means;
- cost: mean cost per turn, ratio of means with the delta method's standard error, margin relative;
- eval pass rate: only when both arms have `min_eval_tasks` graded tasks; Agresti-Caffo, margin absolute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from contracts.canary import CanaryDecision, CanaryRule, CanaryVerdict, MetricCheck

# The harm of a paid canary against a free control: worse than any margin.
_UNBOUNDED = 1e6


@dataclass(frozen=True)
class Arm:
    """One arm's turns: failed count, latencies (ms) of answered turns, cost per turn; and eval tasks."""

    turns: int = 0
    failed: int = 0
    latencies_ms: Sequence[float] = field(default_factory=tuple)
    costs_usd: Sequence[float] = field(default_factory=tuple)
    eval_passed: int = 0
    eval_total: int = 0


def _z(alpha: float) -> float:
    return NormalDist().inv_cdf(1 - alpha / 2)


def _proportions(bad_c: int, n_c: int, bad_0: int, n_0: int) -> tuple[float, float, float]:
    """Canary rate, control rate, and the Agresti-Caffo standard error of their difference."""
    pc, p0 = (bad_c + 1) / (n_c + 2), (bad_0 + 1) / (n_0 + 2)
    return bad_c / max(n_c, 1), bad_0 / max(n_0, 1), math.sqrt(pc * (1 - pc) / (n_c + 2) + p0 * (1 - p0) / (n_0 + 2))


def _check(metric: str, canary: float, control: float, harm: float, se: float, margin: float, z: float) -> MetricCheck:
    # Bounded, so a check with too little data still travels as JSON (no infinities).
    low, high = max(harm - z * se, -_UNBOUNDED), min(harm + z * se, _UNBOUNDED)
    verdict = "worse" if low > margin else "within_margin" if high < margin else "undecided"
    return MetricCheck(
        metric=metric,
        canary=round(canary, 6),
        control=round(control, 6),
        harm=round(harm, 6),
        low=round(low, 6),
        high=round(high, 6),
        margin=margin,
        verdict=verdict,
    )


def _se_mean(values: Sequence[float]) -> float:
    return float(np.sqrt(np.var(values, ddof=1) / len(values))) if len(values) > 1 else math.inf


def fmean(values: Sequence[float]) -> float:
    return float(np.mean(values))


def _latency(c: Arm, o: Arm, rule: CanaryRule, z: float) -> MetricCheck:
    lc = np.log(np.maximum(np.asarray(c.latencies_ms, dtype=float), 1.0))
    lo = np.log(np.maximum(np.asarray(o.latencies_ms, dtype=float), 1.0))
    if len(lc) < 2 or len(lo) < 2:
        return _check("latency", 0, 0, 0, math.inf, math.log1p(rule.max_latency_increase), z)
    harm = fmean(lc) - fmean(lo)
    se = math.hypot(_se_mean(lc), _se_mean(lo))
    # Reported as geometric means in ms; compared on the log scale, where the margin is log(1 + increase).
    return _check(
        "latency", math.exp(fmean(lc)), math.exp(fmean(lo)), harm, se, math.log1p(rule.max_latency_increase), z
    )


def _cost(c: Arm, o: Arm, rule: CanaryRule, z: float) -> MetricCheck:
    margin = rule.max_cost_increase
    if len(c.costs_usd) < 2 or len(o.costs_usd) < 2:
        return _check("cost", 0, 0, 0, math.inf, margin, z)
    mc, mo = fmean(c.costs_usd), fmean(o.costs_usd)
    if mo <= 0:
        # A free control: a free canary is no dearer, a paid one infinitely so.
        return _check("cost", mc, mo, 0.0 if mc <= 0 else _UNBOUNDED, 0.0, margin, z)
    ratio = mc / mo
    # Delta method: the relative standard errors of the two means add in quadrature.
    rel_c = _se_mean(c.costs_usd) / mc if mc > 0 else 0.0
    se = ratio * math.hypot(rel_c, _se_mean(o.costs_usd) / mo) if mc > 0 else _se_mean(o.costs_usd) / mo
    return _check("cost", mc, mo, ratio - 1, se, margin, z)


def compare(canary: Arm, control: Arm, rule: CanaryRule, planned_looks: int = 1) -> CanaryVerdict:
    with_evals = min(canary.eval_total, control.eval_total) >= rule.min_eval_tasks
    metrics = 4 if with_evals else 3
    z = _z(rule.alpha / (metrics * max(planned_looks, 1)))
    counts = CanaryVerdict(
        decision=CanaryDecision.CONTINUE,
        reason=f"collecting: each arm needs {rule.min_turns} turns",
        canary_turns=canary.turns,
        control_turns=control.turns,
        canary_eval_tasks=canary.eval_total,
        control_eval_tasks=control.eval_total,
    )
    if min(canary.turns, control.turns) < rule.min_turns:
        return counts
    rc, r0, se = _proportions(canary.failed, canary.turns, control.failed, control.turns)
    checks = [
        _check("error_rate", rc, r0, rc - r0, se, rule.max_error_increase, z),
        _latency(canary, control, rule, z),
        _cost(canary, control, rule, z),
    ]
    if with_evals:
        pc, p0, se = _proportions(canary.eval_passed, canary.eval_total, control.eval_passed, control.eval_total)
        checks.append(_check("eval_pass_rate", pc, p0, p0 - pc, se, rule.max_pass_rate_drop, z))
    worse = [m.metric for m in checks if m.verdict == "worse"]
    if worse:
        decision, reason = CanaryDecision.ROLL_BACK, "worse than tolerated: " + ", ".join(worse)
    elif all(m.verdict == "within_margin" for m in checks):
        decision, reason = CanaryDecision.PROMOTE, "every metric within its margin"
    else:
        undecided = [m.metric for m in checks if m.verdict == "undecided"]
        decision, reason = CanaryDecision.CONTINUE, "not yet conclusive: " + ", ".join(undecided)
    return counts.model_copy(update={"decision": decision, "reason": reason, "metrics": checks})
