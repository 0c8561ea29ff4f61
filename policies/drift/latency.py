"""Latency tests like for like: each turn against the baseline of its own agent and model.

A segment that spans models (an agent on all its models, the whole tenant) mixes a fast cheap model with a
slow dear one; its spread of log latency is mostly the difference between the two, and a test that keeps that
spread as noise loses much of its power to see every turn getting slower. Here a turn's log latency is taken
relative to its (agent, model) cell's baseline, so the spread left is within a model, and a move between
models (which the model-mix test sees) is not mistaken for a slowdown.

- p50: a z-test of the mean residual log latency (a change of scale), the day-to-day wobble in the variance;
  effect: the change of the mean residual (the geometric mean of latency, like for like), as a ratio.
- p95: the share of turns above their cell's baseline p95 (5 % in the baseline), a z-test of that share,
  which is a test of the quantile with the quantile's own variance (Bahadur: the share above a fixed point
  is what the sample p95 moves with); effect: the change of the residuals' p95, as a ratio.

Cells with fewer than `min_baseline_turns` baseline turns set no baseline of their own and their turns are
left out, as are a night's turns on a model the baseline never used.
"""

from __future__ import annotations

import math

import numpy as np

from policies.drift.facts import DriftConfig
from policies.drift.stats import LATENCY_P50, LATENCY_P95, Columns, MetricTest, make_test, z_p

_P95 = 0.95


def latency_tests(agent: str, model: str, base: Columns, cur: Columns, cfg: DriftConfig) -> list[MetricTest]:
    if base.n < cfg.min_baseline_turns or cur.n < cfg.min_current_turns:
        return []
    ab, ac = ~np.isnan(base.latency), ~np.isnan(cur.latency)
    lb, lc = np.log(base.latency[ab]), np.log(cur.latency[ac])
    cells, inv = np.unique(base.cells[ab], return_inverse=True)
    counts = np.bincount(inv, minlength=len(cells))
    means = np.bincount(inv, weights=lb, minlength=len(cells)) / np.maximum(counts, 1)
    tops = np.array([np.quantile(lb[inv == i], _P95) if counts[i] else math.inf for i in range(len(cells))])
    used = counts >= cfg.min_baseline_turns
    keep_b = used[inv]
    at = np.searchsorted(cells, cur.cells[ac]) if len(cells) else np.zeros(len(lc), np.int64)
    at = np.minimum(at, max(len(cells) - 1, 0))
    keep_c = (cells[at] == cur.cells[ac]) & used[at] if len(cells) else np.zeros(len(lc), bool)
    if keep_b.sum() < cfg.min_baseline_turns or keep_c.sum() < cfg.min_current_turns:
        return []
    rb, rc = lb[keep_b] - means[inv[keep_b]], lc[keep_c] - means[at[keep_c]]
    day = base.day[ab][keep_b]
    seg, rel = (agent, model), cfg.min_relative_effect
    raw_b, raw_c = base.latency[ab], cur.latency[ac]
    out = []
    p = z_p(rb, day, rc, cfg.wobble_floor, prior_days=cfg.wobble_prior_days)
    # The effect of the quantity tested (the mean residual, i.e. the geometric mean ratio), not of the median:
    # the median of a night's residuals is 25 % noisier, and gating a significant mean on a noisier median
    # threw away real slowdowns whose median happened to move less.
    effect = math.exp(float(rc.mean()) - float(rb.mean())) - 1
    b50, c50 = float(np.median(raw_b)), float(np.median(raw_c))
    out.append(make_test(seg, LATENCY_P50, len(rb), len(rc), b50, c50, effect, rel, p))
    over_b = (lb[keep_b] > tops[inv[keep_b]]).astype(float)
    over_c = (lc[keep_c] > tops[at[keep_c]]).astype(float)
    p = z_p(over_b, day, over_c)
    effect = math.exp(float(np.quantile(rc, _P95)) - float(np.quantile(rb, _P95))) - 1
    b95, c95 = float(np.quantile(raw_b, _P95)), float(np.quantile(raw_c, _P95))
    out.append(make_test(seg, LATENCY_P95, len(rb), len(rc), b95, c95, effect, rel, p))
    return out
