"""One statistical test per metric and segment, and the Benjamini-Hochberg step that controls false alarms.

Every test compares last night's turns with the trailing baseline's turns of the same segment (an agent on a
model, or an agent on all its models) and gives a two-sided p-value and an effect size. Means and rates use a
z-test whose variance adds the baseline's day-to-day variance (a random-effects test): a tenant's Monday is
never exactly its Sunday, and a test that knew only the sampling error of a large tenant would call every
such wobble significant (the noise Evidently's users report on large data). Tests are one-sided, towards
worse (dearer, slower, more failures): drift alarms on regressions.

- cost and tokens per turn, cost per 1k tokens: the mean, relative change;
- latency p50: the mean of log latency (a change of scale), relative change of the median;
- latency p95: the share of turns above the baseline's p95 (5 % in the baseline), relative change of the p95;
- error rate: the share of turns without an answer, absolute change;
- tool-failure rate: failed over all tool calls (a ratio estimator in the same z-test), absolute change;
- model mix of an agent: chi-squared test of homogeneity, and as its effect the relative change of the cost of
  a turn that the move between models alone makes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from policies.drift.facts import ALL_MODELS, DriftConfig, TurnFact

COST_PER_TURN = "cost_per_turn"
TOKENS_PER_TURN = "tokens_per_turn"
PRICE_PER_1K_TOKENS = "price_per_1k_tokens"
LATENCY_P50 = "latency_p50_ms"
LATENCY_P95 = "latency_p95_ms"
ERROR_RATE = "error_rate"
TOOL_FAILURE_RATE = "tool_failure_rate"
MODEL_MIX = "model_mix"
METRICS = (
    COST_PER_TURN,
    TOKENS_PER_TURN,
    PRICE_PER_1K_TOKENS,
    LATENCY_P50,
    LATENCY_P95,
    ERROR_RATE,
    TOOL_FAILURE_RATE,
    MODEL_MIX,
)
_MIN_DAYS_FOR_WOBBLE = 3


@dataclass(frozen=True, slots=True)
class MetricTest:
    agent: str
    model: str
    metric: str
    n_baseline: int
    n_current: int
    baseline: float
    current: float
    # Relative for means and quantiles, absolute for rates.
    effect: float
    min_effect: float
    p_value: float
    # After Benjamini-Hochberg over the tenant's night.
    q_value: float = 1.0
    flagged: bool = False

    @property
    def large_enough(self) -> bool:
        # Worse only: a cheaper, faster or healthier night is no drift to act on.
        return self.effect >= self.min_effect


class Columns:
    """A segment's turns as arrays, built once so every test is vectorised."""

    def __init__(self, facts: Sequence[TurnFact]) -> None:
        n = len(facts)
        self.n = n
        self.models = [f.model for f in facts]
        self.cost = np.fromiter((f.cost_usd for f in facts), float, n)
        self.tokens = np.fromiter((f.tokens for f in facts), float, n)
        self.latency = np.fromiter((math.nan if f.latency_ms is None else f.latency_ms for f in facts), float, n)
        self.failed = np.fromiter((f.failed for f in facts), float, n)
        self.calls = np.fromiter((f.tool_calls for f in facts), float, n)
        self.tool_failures = np.fromiter((f.tool_failures for f in facts), float, n)
        _, self.day = np.unique(np.fromiter((f.day for f in facts), np.int64, n), return_inverse=True)


def _relative(current: float, baseline: float) -> float:
    if baseline == 0:
        return 0.0 if current == 0 else math.inf
    return current / baseline - 1.0


def _wobble(values: np.ndarray, day: np.ndarray) -> float:
    """Variance of the baseline's daily means beyond what their own sampling error explains (>= 0)."""
    counts = np.bincount(day)
    used = counts > 1
    if used.sum() < _MIN_DAYS_FOR_WOBBLE:
        return 0.0
    sums, squares = np.bincount(day, weights=values), np.bincount(day, weights=values * values)
    means = sums[used] / counts[used]
    within = (squares[used] - counts[used] * means**2) / (counts[used] - 1) / counts[used]
    return max(0.0, float(np.var(means, ddof=1) - within.mean()))


def _z_p(base: np.ndarray, day: np.ndarray, cur: np.ndarray, floor_sd: float = 0.0) -> float:
    """One-sided p that the current mean is above the baseline's, the variance widened by the day-to-day wobble.

    The wobble is the baseline's own, but never below `floor_sd`: fourteen quiet days are no proof that the
    fifteenth cannot differ, and a tenant whose baseline happened to be calm must not alarm on its first
    ordinary day.
    """
    diff = float(cur.mean() - base.mean())
    wobble = max(_wobble(base, day), floor_sd**2)
    var = float(cur.var(ddof=1) / len(cur) + base.var(ddof=1) / len(base)) + wobble
    if var <= 0:
        return 0.0 if diff > 0 else 1.0
    return float(stats.norm.sf(diff / math.sqrt(var)))


def _test(
    seg: tuple[str, str], metric: str, nb: int, nc: int, b: float, c: float, eff: float, min_eff: float, p: float
) -> MetricTest:
    return MetricTest(seg[0], seg[1], metric, nb, nc, b, c, eff, min_eff, p)


def segment_tests(agent: str, model: str, base: Columns, cur: Columns, cfg: DriftConfig) -> list[MetricTest]:
    """Every test the segment has data for; a segment below the minimum sample sizes gets none."""
    if base.n < cfg.min_baseline_turns or cur.n < cfg.min_current_turns:
        return []
    seg, rel = (agent, model), cfg.min_relative_effect
    out = []
    for metric, b, c in ((COST_PER_TURN, base.cost, cur.cost), (TOKENS_PER_TURN, base.tokens, cur.tokens)):
        mb, mc = float(b.mean()), float(c.mean())
        p = _z_p(b, base.day, c, cfg.wobble_floor * abs(mb))
        out.append(_test(seg, metric, base.n, cur.n, mb, mc, _relative(mc, mb), rel, p))
    if model != ALL_MODELS:
        # Per model only: across models the cost of a token moves with the mix, which has its own test.
        kb, kc = base.tokens > 0, cur.tokens > 0
        if kb.sum() >= cfg.min_baseline_turns and kc.sum() >= cfg.min_current_turns:
            ub, uc = base.cost[kb] * 1000 / base.tokens[kb], cur.cost[kc] * 1000 / cur.tokens[kc]
            pb, pc = float(base.cost.sum() * 1000 / base.tokens.sum()), float(cur.cost.sum() * 1000 / cur.tokens.sum())
            p = _z_p(ub, base.day[kb], uc, cfg.wobble_floor * pb / 1000)
            out.append(
                _test(seg, PRICE_PER_1K_TOKENS, base.n, cur.n, pb, pc, _relative(pc, pb), cfg.min_price_effect, p)
            )
    ab, ac = ~np.isnan(base.latency), ~np.isnan(cur.latency)
    if ab.sum() >= cfg.min_baseline_turns and ac.sum() >= cfg.min_current_turns:
        lb, lc, day = base.latency[ab], cur.latency[ac], base.day[ab]
        b50, c50 = float(np.median(lb)), float(np.median(lc))
        p = _z_p(np.log(lb), day, np.log(lc), cfg.wobble_floor)
        out.append(_test(seg, LATENCY_P50, len(lb), len(lc), b50, c50, _relative(c50, b50), rel, p))
        b95, c95 = float(np.quantile(lb, 0.95)), float(np.quantile(lc, 0.95))
        p = _z_p((lb > b95).astype(float), day, (lc > b95).astype(float))
        out.append(_test(seg, LATENCY_P95, len(lb), len(lc), b95, c95, _relative(c95, b95), rel, p))
    eb, ec = float(base.failed.mean()), float(cur.failed.mean())
    out.append(
        _test(
            seg,
            ERROR_RATE,
            base.n,
            cur.n,
            eb,
            ec,
            ec - eb,
            cfg.min_rate_effect,
            _z_p(base.failed, base.day, cur.failed),
        )
    )
    calls_b, calls_c = int(base.calls.sum()), int(cur.calls.sum())
    if calls_b >= cfg.min_baseline_turns and calls_c >= cfg.min_current_turns:
        bad_b, bad_c = int(base.tool_failures.sum()), int(cur.tool_failures.sum())
        rb, rc = bad_b / calls_b, bad_c / calls_c
        # A ratio of sums: each turn's failures over the mean calls per turn of its window has the rate as mean,
        # so the same wobble-aware test applies (the calls per turn taken as known).
        p = _z_p(base.tool_failures / base.calls.mean(), base.day, cur.tool_failures / cur.calls.mean())
        out.append(_test(seg, TOOL_FAILURE_RATE, calls_b, calls_c, rb, rc, rc - rb, cfg.min_rate_effect, p))
    return out


def mix_test(agent: str, base: Columns, cur: Columns, cfg: DriftConfig) -> MetricTest | None:
    """Whether the agent's turns moved between models; None with too little data or a single model.

    The effect is what the move alone does to the cost of a turn, `sum (s1 - s0) c0 / sum s0 c0`: a shift
    between two models of one price is no drift worth an alarm, a small shift towards a dear one is.
    """
    if base.n < cfg.min_baseline_turns or cur.n < cfg.min_current_turns:
        return None
    models = sorted(set(base.models) | set(cur.models))
    if len(models) < 2:
        return None
    mb, mc = np.array(base.models), np.array(cur.models)
    counts = np.array([[int((mc == m).sum()) for m in models], [int((mb == m).sum()) for m in models]])
    shares = counts / counts.sum(axis=1, keepdims=True)
    unit = np.array(
        [
            float(base.cost[mb == m].mean()) if counts[1][i] else float(cur.cost[mc == m].mean())
            for i, m in enumerate(models)
        ]
    )
    before = float((shares[1] * unit).sum())
    moved = float(((shares[0] - shares[1]) * unit).sum())
    p = float(stats.chi2_contingency(counts).pvalue)
    # The share of the agent's most used baseline model, then and now: what the report shows.
    top = int(np.argmax(shares[1]))
    return _test(
        (agent, ALL_MODELS),
        MODEL_MIX,
        base.n,
        cur.n,
        float(shares[1][top]),
        float(shares[0][top]),
        _relative(before + moved, before),
        cfg.min_relative_effect,
        p,
    )


def control_false_alarms(tests: Sequence[MetricTest], cfg: DriftConfig) -> list[MetricTest]:
    """Benjamini-Hochberg over the whole family, then the effect-size gate: what is left is flagged."""
    if not tests:
        return []
    q = stats.false_discovery_control(np.array([t.p_value for t in tests]), method="bh")
    return [
        replace(t, q_value=float(qv), flagged=bool(qv <= cfg.fdr) and t.large_enough)
        for t, qv in zip(tests, q, strict=True)
    ]
