"""One statistical test per metric and segment, and the Benjamini-Hochberg step that controls false alarms.

Every test compares last night's turns with the trailing baseline's turns of the same segment (an agent on a
model, or an agent on all its models) and gives a two-sided p-value and an effect size. Means and rates use a
z-test whose variance adds the baseline's day-to-day variance (a random-effects test): a tenant's Monday is
never exactly its Sunday, and a test that knew only the sampling error of a large tenant would call every
such wobble significant (the noise Evidently's users report on large data). Tests are one-sided, towards
worse (dearer, slower, more failures): drift alarms on regressions.

- cost and tokens per turn, cost per 1k tokens: the mean, relative change;
- latency p50 and p95: `policies.drift.latency` (like for like: each turn against its own agent and model);
- error rate: the share of turns without an answer, absolute change;
- tool-failure rate: failed over all tool calls (a ratio estimator in the same z-test), absolute change;
- model mix of an agent: the mean over turns of the baseline cost of a turn on the turn's model (what a turn
  would cost if only the mix had moved), one-sided, and as its effect the relative change of that mean.

Weighted Benjamini-Hochberg over the night's tests is in `policies.drift.fdr`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from policies.drift.facts import ALL_AGENTS, ALL_MODELS, DriftConfig, TurnFact

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
    """A window's turns as arrays, built once so every test is vectorised; a segment is a `take` of them."""

    def __init__(self, facts: Sequence[TurnFact]) -> None:
        n = len(facts)
        self.n = n
        self.agents = np.array([f.agent for f in facts], dtype=str)
        self.models = np.array([f.model for f in facts], dtype=str)
        # The (agent, model) cell of each turn: like-for-like comparisons across models stratify by it.
        self.cells = np.char.add(np.char.add(self.agents, "\x00"), self.models) if n else np.array([], dtype=str)
        self.cost = np.fromiter((f.cost_usd for f in facts), float, n)
        self.tokens = np.fromiter((f.tokens for f in facts), float, n)
        self.latency = np.fromiter((math.nan if f.latency_ms is None else f.latency_ms for f in facts), float, n)
        self.failed = np.fromiter((f.failed for f in facts), float, n)
        self.calls = np.fromiter((f.tool_calls for f in facts), float, n)
        self.tool_failures = np.fromiter((f.tool_failures for f in facts), float, n)
        _, self.day = np.unique(np.fromiter((f.day for f in facts), np.int64, n), return_inverse=True)

    def take(self, rows: np.ndarray) -> Columns:
        """The turns at `rows` (a boolean mask), as a window of their own; day numbers stay comparable."""
        part = object.__new__(Columns)
        part.n = int(rows.sum())
        for name in ("agents", "models", "cells", "cost", "tokens", "latency", "failed", "calls", "tool_failures"):
            setattr(part, name, getattr(self, name)[rows])
        part.day = self.day[rows]
        return part

    def segment(self, agent: str, model: str) -> Columns:
        rows = np.ones(self.n, bool)
        if agent != ALL_AGENTS:
            rows &= self.agents == agent
        if model != ALL_MODELS:
            rows &= self.models == model
        return self.take(rows)


def relative(current: float, baseline: float) -> float:
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


def z_p(
    base: np.ndarray,
    day: np.ndarray,
    cur: np.ndarray,
    floor_sd: float = 0.0,
    *,
    wobble: bool = True,
    prior_days: float = 0.0,
) -> float:
    """One-sided p that the current mean is above the baseline's, the variance widened by the day-to-day wobble.

    The wobble is the baseline's own, but never below `floor_sd`: fourteen quiet days are no proof that the
    fifteenth cannot differ, and a tenant whose baseline happened to be calm must not alarm on its first
    ordinary day. With `prior_days` > 0 (and a floor), the baseline's estimate is first shrunk towards the
    floor as a prior worth that many days (the conjugate scaled-inverse-chi-squared update of a variance):
    fourteen daily means estimate a variance with a relative error near 40 %, and a baseline that happened
    to wobble more than usual would otherwise hide a real shift behind its own noise. The wobble enters twice:
    whole for the night (one day), and divided by the number of days for the baseline's mean.
    """
    diff = float(cur.mean() - base.mean())
    days = max(int(np.count_nonzero(np.bincount(day))), 1) if len(day) else 1
    own = _wobble(base, day) if wobble else 0.0
    if wobble and prior_days > 0 and floor_sd > 0 and days > 1:
        own = (prior_days * floor_sd**2 + (days - 1) * own) / (prior_days + days - 1)
    between = max(own, floor_sd**2)
    var = float(cur.var(ddof=1) / len(cur) + base.var(ddof=1) / len(base)) + between * (1 + 1 / days)
    if var <= 0:
        return 0.0 if diff > 0 else 1.0
    # Imported here: scipy.stats takes seconds to load, and every gateway and worker imports this module at
    # start while only a drift run calls this.
    from scipy import stats

    return float(stats.norm.sf(diff / math.sqrt(var)))


def make_test(
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
        p = z_p(b, base.day, c, cfg.wobble_floor * abs(mb), prior_days=cfg.wobble_prior_days)
        out.append(make_test(seg, metric, base.n, cur.n, mb, mc, relative(mc, mb), rel, p))
    if model != ALL_MODELS:
        # Per model only: across models the cost of a token moves with the mix, which has its own test.
        kb, kc = base.tokens > 0, cur.tokens > 0
        if kb.sum() >= cfg.min_baseline_turns and kc.sum() >= cfg.min_current_turns:
            ub, uc = base.cost[kb] * 1000 / base.tokens[kb], cur.cost[kc] * 1000 / cur.tokens[kc]
            pb, pc = float(base.cost.sum() * 1000 / base.tokens.sum()), float(cur.cost.sum() * 1000 / cur.tokens.sum())
            p = z_p(ub, base.day[kb], uc, cfg.wobble_floor * pb / 1000, prior_days=cfg.wobble_prior_days)
            out.append(
                make_test(seg, PRICE_PER_1K_TOKENS, base.n, cur.n, pb, pc, relative(pc, pb), cfg.min_price_effect, p)
            )
    eb, ec = float(base.failed.mean()), float(cur.failed.mean())
    out.append(
        make_test(
            seg,
            ERROR_RATE,
            base.n,
            cur.n,
            eb,
            ec,
            ec - eb,
            cfg.min_rate_effect,
            z_p(base.failed, base.day, cur.failed),
        )
    )
    calls_b, calls_c = int(base.calls.sum()), int(cur.calls.sum())
    if calls_b >= cfg.min_baseline_turns and calls_c >= cfg.min_current_turns:
        bad_b, bad_c = int(base.tool_failures.sum()), int(cur.tool_failures.sum())
        rb, rc = bad_b / calls_b, bad_c / calls_c
        # A ratio of sums: each turn's failures over the mean calls per turn of its window has the rate as mean,
        # so the same wobble-aware test applies (the calls per turn taken as known).
        p = z_p(base.tool_failures / base.calls.mean(), base.day, cur.tool_failures / cur.calls.mean())
        out.append(make_test(seg, TOOL_FAILURE_RATE, calls_b, calls_c, rb, rc, rc - rb, cfg.min_rate_effect, p))
    return out


def mix_test(agent: str, base: Columns, cur: Columns, cfg: DriftConfig) -> MetricTest | None:
    """Whether the agent's turns moved between models; None with too little data or a single model.

    The effect is what the move alone does to the cost of a turn, `sum (s1 - s0) c0 / sum s0 c0`: a shift
    between two models of one price is no drift worth an alarm, a small shift towards a dear one is.
    """
    if base.n < cfg.min_baseline_turns or cur.n < cfg.min_current_turns:
        return None
    models = [str(m) for m in np.unique(np.concatenate([base.models, cur.models]))]
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
    # Each turn valued at its model's baseline cost: the mean moves with the mix and nothing else, and a move
    # towards a dearer model is the direction that matters (one-sided, where chi-squared is not).
    names = np.array(models, dtype=str)
    vb, vc = unit[np.searchsorted(names, base.models)], unit[np.searchsorted(names, cur.models)]
    # Sampling error only, as a test of shares: a mix that wobbles by itself day to day is a router whose
    # choices a report should show.
    p = z_p(vb, base.day, vc, wobble=False)
    # The share of the agent's most used baseline model, then and now: what the report shows.
    top = int(np.argmax(shares[1]))
    return make_test(
        (agent, ALL_MODELS),
        MODEL_MIX,
        base.n,
        cur.n,
        float(shares[1][top]),
        float(shares[0][top]),
        relative(before + moved, before),
        cfg.min_relative_effect,
        p,
    )
