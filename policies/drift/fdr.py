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
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from policies.drift.facts import DriftConfig
    from policies.drift.stats import MetricTest


def weights(tests: Sequence[MetricTest]) -> np.ndarray:
    """Each metric the same total weight, split within it by last night's turns; the mean weight is one."""
    per_metric: dict[str, float] = defaultdict(float)
    for t in tests:
        per_metric[t.metric] += max(t.n_current, 1)
    share = len(tests) / len(per_metric)
    return np.array([share * max(t.n_current, 1) / per_metric[t.metric] for t in tests])


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
    q = adjusted(np.array([t.p_value for t in tests]), weights(tests))
    return [
        replace(t, q_value=float(qv), flagged=bool(qv <= cfg.fdr) and t.large_enough)
        for t, qv in zip(tests, q, strict=True)
    ]
