"""The nightly analysis of one tenant: every segment tested, false alarms controlled, cost explained, advice.

`analyse` is a pure function of the baseline's and last night's turn facts, so the workflow's activity, the
tests and the benchmark all run exactly the same code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from policies.drift.decompose import CostDecomposition, decompose
from policies.drift.facts import ALL_AGENTS, ALL_MODELS, DriftConfig, TurnFact
from policies.drift.fdr import control_false_alarms
from policies.drift.latency import latency_tests
from policies.drift.pooled import pooled_mix_test
from policies.drift.stats import (
    COST_PER_TURN,
    ERROR_RATE,
    LATENCY_P50,
    LATENCY_P95,
    MODEL_MIX,
    PRICE_PER_1K_TOKENS,
    TOOL_FAILURE_RATE,
    Columns,
    MetricTest,
    mix_test,
    segment_tests,
)

SAFE_MODE = "safe_mode"
MODEL_PIN = "model_pin"
ROUTER_THRESHOLD = "router_threshold"
# The soft daily limit that safe mode advice proposes: the baseline's day plus this much headroom.
SAFE_MODE_HEADROOM = Decimal("1.10")
_QUALITY_METRICS = frozenset({LATENCY_P50, LATENCY_P95, ERROR_RATE, TOOL_FAILURE_RATE})


@dataclass(frozen=True, slots=True)
class Advice:
    kind: str
    reason: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DriftAnalysis:
    tests: list[MetricTest]
    findings: list[MetricTest]
    costs: list[CostDecomposition]
    advice: list[Advice] = field(default_factory=list)
    baseline_turns: int = 0
    current_turns: int = 0

    @property
    def detected(self) -> bool:
        return bool(self.findings)


def _group(facts: Sequence[TurnFact]) -> dict[tuple[str, str], list[TurnFact]]:
    out: dict[tuple[str, str], list[TurnFact]] = defaultdict(list)
    for fact in facts:
        out[(fact.agent, fact.model)].append(fact)
        out[(fact.agent, ALL_MODELS)].append(fact)
    if len({agent for agent, _model in out}) > 1:
        # The whole tenant as one segment too: a tenant-wide slowdown shows best where all its turns are.
        out[(ALL_AGENTS, ALL_MODELS)] = list(facts)
    return out


def _top_model(facts: Sequence[TurnFact]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for fact in facts:
        counts[fact.model] += 1
    return max(sorted(counts), key=lambda m: counts[m])


def _advise(
    findings: Sequence[MetricTest], costs: Sequence[CostDecomposition], baseline: Sequence[TurnFact], days: int
) -> list[Advice]:
    advice: dict[tuple[str, ...], Advice] = {}
    by_agent = {c.agent: c for c in costs}
    base_by_agent = _group(baseline)
    for f in findings:
        if f.effect <= 0:
            continue  # cheaper, faster or healthier: nothing to undo
        if f.metric in (COST_PER_TURN, MODEL_MIX) and f.model == ALL_MODELS:
            cost = by_agent.get(f.agent)
            base = base_by_agent.get((f.agent, ALL_MODELS), [])
            if cost is not None and cost.dominant_per_turn == "mix" and cost.mix_usd > 0 and base:
                pin = _top_model(base)
                advice[(MODEL_PIN, f.agent)] = Advice(
                    MODEL_PIN,
                    f"{f.agent}: turns moved off {pin}; the mix added {cost.mix_usd} USD last night",
                    {"agent": f.agent, "model": pin},
                )
                continue
        if f.metric in (COST_PER_TURN, PRICE_PER_1K_TOKENS):
            daily = sum((Decimal(str(t.cost_usd)) for t in baseline), Decimal(0)) / days
            limit = max((daily * SAFE_MODE_HEADROOM).quantize(Decimal("0.01")), Decimal("0.01"))
            advice[(SAFE_MODE,)] = Advice(
                SAFE_MODE,
                f"{f.metric} of {f.agent} on {f.model} up {f.effect:.1%}: safe mode once a day costs {limit} USD",
                {"daily_soft_usd": str(limit)},
            )
        elif f.metric in _QUALITY_METRICS and f.model != ALL_MODELS:
            advice[(ROUTER_THRESHOLD, f.agent, f.model)] = Advice(
                ROUTER_THRESHOLD,
                f"{f.metric} of {f.agent} on {f.model} worse by {f.effect:.3g}: route less of its traffic there",
                {"agent": f.agent, "model": f.model, "metric": f.metric},
            )
    return list(advice.values())


def analyse(
    baseline: Sequence[TurnFact],
    baseline_days: int,
    current: Sequence[TurnFact],
    cfg: DriftConfig | None = None,
) -> DriftAnalysis:
    """Compare last night (`current`) with the trailing baseline of `baseline_days` days with turns."""
    cfg = cfg or DriftConfig()
    base, cur = _group(baseline), _group(current)
    base_columns, cur_columns = Columns(baseline), Columns(current)
    tests: list[MetricTest] = []
    for agent, model in sorted(base.keys() & cur.keys()):
        b, c = base_columns.segment(agent, model), cur_columns.segment(agent, model)
        tests.extend(segment_tests(agent, model, b, c, cfg))
        tests.extend(latency_tests(agent, model, b, c, cfg))
        if model == ALL_MODELS and agent != ALL_AGENTS:
            mix = mix_test(agent, b, c, cfg)
            if mix is not None:
                tests.append(mix)
    pooled = pooled_mix_test(base_columns, cur_columns, cfg) if cfg.pooled_mix else None
    if pooled is not None:
        tests.append(pooled)
    tests = control_false_alarms(tests, cfg)
    findings = [t for t in tests if t.flagged]
    agents = sorted({f.agent for f in baseline} | {f.agent for f in current})
    costs = [
        decompose(a, base.get((a, ALL_MODELS), []), max(baseline_days, 1), cur.get((a, ALL_MODELS), [])) for a in agents
    ]
    advice = _advise(findings, costs, baseline, max(baseline_days, 1)) if findings else []
    return DriftAnalysis(tests, findings, costs, advice, len(baseline), len(current))
