"""What the detector reads: one fact per turn, and the thresholds that keep it quiet on noise."""

from __future__ import annotations

from dataclasses import dataclass

ALL_MODELS = "*"
ALL_AGENTS = "*"


@dataclass(frozen=True, slots=True)
class TurnFact:
    """One turn (a customer's message and whatever answered it) as the ledger and the transcript recorded it.

    `latency_ms` is question to answer and None for a turn without an answer (`failed`). `cost_usd` and
    `tokens` add up every settled ledger row of the turn: its model steps and its tool calls.
    """

    agent: str
    model: str
    cost_usd: float
    tokens: int
    latency_ms: float | None
    failed: bool
    tool_calls: int = 0
    tool_failures: int = 0
    # The baseline day the turn belongs to (any number, one per day): day-to-day wobble is measured with it.
    day: int = 0


# Each metric's part of the false-alarm level (`DriftConfig.metric_shares`), in the metric names of
# `policies.drift.stats`. The level goes where a shift the operator must hear of is hardest to see next night:
# a +10 % slowdown moves a tenant's latency by only 3 to 5 of its night's standard deviations (the day's own
# wobble caps it), so latency gets the most, the typical turn (p50: the mean log latency, the efficient test of
# a change of scale) five times the tail's; cost per turn, the model mix and the price of a token (+10 to
# +15 % shifts) the next; tokens, errors and tool
# failures, whose shifts worth a page (+2 points on a 1 to 3 % rate) stand out at any level, a small share each.
# Latency p50 had 3 until 2026-12-07: its slowdowns were most of the misses, each at p 0.008 to 0.012.
PRIORITY_SHARES: tuple[tuple[str, float], ...] = (
    ("latency_p50_ms", 5.0),
    ("latency_p95_ms", 1.0),
    ("cost_per_turn", 1.5),
    ("model_mix", 1.5),
    ("price_per_1k_tokens", 1.5),
    ("tokens_per_turn", 0.5),
    ("error_rate", 0.5),
    ("tool_failure_rate", 0.5),
)


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """False-alarm control: a finding needs all three of significance, size and enough data.

    `fdr` is the Benjamini-Hochberg level over every test of one tenant's night, so under no drift at all a
    tenant's night raises an alarm with probability at most `fdr`. The minimum effects keep day-to-day
    wobble that is real but harmless (a busy Monday) from alarming on tenants large enough to make any
    difference significant.
    """

    # The operator's budget of one false alarm per 30 tenant-days (1/30 a tenant-night): the procedure's bound
    # under no drift, which the positive dependence of one night's tests (p50 and p95, cost and mix) and the
    # wobble floor keep well below it in practice (`docs/drift.md`, Measured). Half of it (1/60) until 2026-12-07.
    fdr: float = 1 / 30
    min_current_turns: int = 30
    min_baseline_turns: int = 100
    # Relative changes of a mean or quantile.
    # A third of the smallest shift to catch (+10 % latency): a real one passes this on the smallest tenant's
    # night with probability above 99 %; the tests' wobble floor already keeps ordinary days' moves out.
    min_relative_effect: float = 0.03
    # Cost per token moves with prices only: a smaller change is already a real price change.
    min_price_effect: float = 0.02
    # Absolute change of a rate (errors, tool failures).
    min_rate_effect: float = 0.02
    # The least day-to-day variation assumed (relative; in log units for latency), however calm the baseline.
    wobble_floor: float = 0.02
    # How many days' worth of evidence the floor counts as a prior for a tenant's own wobble (0: the floor is
    # only a lower bound, the baseline's own estimate is taken as it is).
    wobble_prior_days: float = 14.0
    # The tenant-wide model-mix test over every agent's turns (`policies.drift.pooled`).
    pooled_mix: bool = True
    # The part of each metric's share of `fdr` its widest segment gets first (`policies.drift.fdr.weights`).
    widest_share: float = 0.75
    # Each metric's part of `fdr` (relative; None: all the same), fixed before any p-value is seen.
    metric_shares: tuple[tuple[str, float], ...] | None = PRIORITY_SHARES
