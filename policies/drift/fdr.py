"""False-alarm control over one tenant's night: a weighted Benjamini-Hochberg step with the weights fixed in advance.

Plain Benjamini-Hochberg spends its level evenly over every test of the night, and a tenant with two agents
has close to fifty: a tenant-wide slowdown, seen best in the one test that pools all the tenant's turns, must
then pass as strict a bar as a test of one agent on its rarely used model. The weighted procedure (Genovese,
Roeder and Wasserman, 2006) compares `p / w` instead of `p`, with weights that average one; it controls the
false discovery rate at `q` for independent or positively dependent tests as the plain one does, and with no
drift at all a tenant's night still alarms with probability at most `q`.

The weights are a design choice made before any p-value is seen (they depend on the segments' sizes only):

- every metric (cost per turn, tokens, price, latency p50, latency p95, errors, tool failures, model mix) gets
  the same share of the level, however many segments it is tested on;
- within a metric, a segment's weight is proportional to its turns last night: the tenant-wide segment, which
  has the most power for a shift that touches every turn, gets the most, a thin segment the least.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from policies.drift.facts import DriftConfig
    from policies.drift.stats import MetricTest


def weights(
    tests: Sequence[MetricTest], widest_share: float = 0.0, shares: Mapping[str, float] | None = None
) -> np.ndarray:
    """Each metric its share of the total weight, split within it by last night's turns; the mean weight is one.

    `shares` (relative, renormalised over the metrics the night has tests for) gives each metric its part of
    the level; None gives every metric the same. With `widest_share` > 0 that part of a metric's weight goes to
    its widest segment (the most turns last night: the tenant, or its one agent on all models) before the rest
    is split by turns: the pooled test is the metric's primary test, and the narrower ones are there to say
    where a change is.
    """
    per_metric: dict[str, float] = defaultdict(float)
    widest: dict[str, int] = {}
    for i, t in enumerate(tests):
        per_metric[t.metric] += max(t.n_current, 1)
        if t.metric not in widest or t.n_current > tests[widest[t.metric]].n_current:
            widest[t.metric] = i
    part = {m: (1.0 if shares is None else float(shares.get(m, 0.0))) for m in per_metric}
    total = sum(part.values()) or 1.0
    out = np.array([(1 - widest_share) * max(t.n_current, 1) / per_metric[t.metric] * part[t.metric] for t in tests])
    for m, i in widest.items():
        out[i] += widest_share * part[m]
    return len(tests) / total * out


def adjusted(p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted Benjamini-Hochberg q-values: a test is a discovery at level q exactly when its value is <= q."""
    m = len(p)
    ratio = np.where(w > 0, p / np.where(w > 0, w, 1.0), np.inf)
    order = np.argsort(ratio, kind="stable")
    scaled = ratio[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    q = np.empty(m)
    q[order] = q_sorted
    return q


def control_false_alarms(tests: Sequence[MetricTest], cfg: DriftConfig) -> list[MetricTest]:
    """Weighted Benjamini-Hochberg over the night's family, then the effect-size gate: what is left is flagged."""
    if not tests:
        return []
    shares = dict(cfg.metric_shares) if cfg.metric_shares is not None else None
    q = adjusted(np.array([t.p_value for t in tests]), weights(tests, cfg.widest_share, shares))
    return [
        replace(t, q_value=float(qv), flagged=bool(qv <= cfg.fdr) and t.large_enough)
        for t, qv in zip(tests, q, strict=True)
    ]
