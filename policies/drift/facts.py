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


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """False-alarm control: a finding needs all three of significance, size and enough data.

    `fdr` is the Benjamini-Hochberg level over every test of one tenant's night, so under no drift at all a
    tenant's night raises an alarm with probability at most `fdr`. The minimum effects keep day-to-day
    wobble that is real but harmless (a busy Monday) from alarming on tenants large enough to make any
    difference significant.
    """

    fdr: float = 0.01
    min_current_turns: int = 30
    min_baseline_turns: int = 100
    # Relative changes of a mean or quantile.
    min_relative_effect: float = 0.05
    # Cost per token moves with prices only: a smaller change is already a real price change.
    min_price_effect: float = 0.02
    # Absolute change of a rate (errors, tool failures).
    min_rate_effect: float = 0.02
    # The least day-to-day variation assumed (relative; in log units for latency), however calm the baseline.
    wobble_floor: float = 0.02
    # The tenant-wide model-mix test over every agent's turns (`policies.drift.pooled`).
    pooled_mix: bool = True
    # The part of each metric's share of `fdr` its widest segment gets first (`policies.drift.fdr.weights`).
    widest_share: float = 0.0
