"""Comparing two eval runs: the per-task diff and the pass-rate change with a paired bootstrap interval.

Tasks are paired by id (only tasks both runs graded count), resampled with replacement `resamples` times by a
generator seeded from `seed`, so the same two runs always give the same interval, whatever order their
results were read in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TaskChange:
    task_id: str
    before: bool
    after: bool

    @property
    def kind(self) -> str:
        if self.before == self.after:
            return "same"
        return "fixed" if self.after else "broken"


@dataclass(frozen=True)
class Comparison:
    paired: int
    rate_a: float
    rate_b: float
    low: float
    high: float
    changes: list[TaskChange] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)

    @property
    def delta(self) -> float:
        return self.rate_b - self.rate_a

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0


def compare(
    a: dict[str, bool], b: dict[str, bool], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Comparison:
    """`a` and `b` map task id -> passed."""
    shared = sorted(set(a) & set(b))
    pairs = [(int(a[t]), int(b[t])) for t in shared]
    n = len(pairs)
    rate_a = sum(p[0] for p in pairs) / n if n else 0.0
    rate_b = sum(p[1] for p in pairs) / n if n else 0.0
    low = high = rate_b - rate_a
    if n:
        rng = random.Random(seed)  # noqa: S311  (statistics, seeded on purpose: no secret here)
        deltas = []
        for _ in range(resamples):
            sample = [pairs[rng.randrange(n)] for _ in range(n)]
            deltas.append(sum(p[1] - p[0] for p in sample) / n)
        deltas.sort()
        tail = (1 - confidence) / 2
        low = deltas[int(tail * (resamples - 1))]
        high = deltas[int((1 - tail) * (resamples - 1))]
    changes = [TaskChange(t, a[t], b[t]) for t in shared if a[t] != b[t]]
    return Comparison(
        paired=n,
        rate_a=rate_a,
        rate_b=rate_b,
        low=low,
        high=high,
        changes=changes,
        only_a=sorted(set(a) - set(b)),
        only_b=sorted(set(b) - set(a)),
    )


def render(comparison: Comparison, name_a: str, name_b: str) -> str:
    c = comparison
    lines = [
        f"paired tasks: {c.paired}",
        f"pass rate: {name_a} {c.rate_a:.1%} -> {name_b} {c.rate_b:.1%}"
        f" (change {c.delta:+.1%}, 95% CI [{c.low:+.1%}, {c.high:+.1%}]"
        f"{', significant' if c.significant else ''})",
    ]
    for change in c.changes:
        lines.append(f"  {change.kind:<7} {change.task_id}")
    if c.only_a:
        lines.append(f"only in {name_a}: {', '.join(c.only_a)}")
    if c.only_b:
        lines.append(f"only in {name_b}: {', '.join(c.only_b)}")
    return "\n".join(lines)
