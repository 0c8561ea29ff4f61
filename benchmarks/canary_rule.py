"""The router canary's rule on simulated canaries, against a naive rule on the same arms in the same run.

Each simulated canary grows both arms by `--per-look` turns per look, for `--looks` looks (the workflow's
checks), from one of five truths: a twin of the control, 3 points more errors, 30 % slower, 25 % dearer
(each should be rolled back), and 5 % slower, within the 10 % latency margin (should be promoted). Reported
per truth: the share promoted, rolled back and left inconclusive at the end, and the mean turns per arm at
the decision.

- ours: `router.canary_rule.compare` with the default margins (min_turns 200), the confidence spread over
  metrics and the planned looks;
- naive: what a dashboard rule does with the same margins and minimum: roll back when a point estimate is
  past its margin, promote when all are within, at the first look with enough turns.

Also the rule's cost per look at 5,000 turns per arm, against only averaging the same columns.

    python -m benchmarks canary_rule [--canaries 20 --looks 24 --per-look 250 --seed 3]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from contracts.canary import CanaryDecision, CanaryRule
from router.canary_rule import Arm, compare

RULE = CanaryRule(min_turns=200)


@dataclass(frozen=True)
class Truth:
    name: str
    fail: float = 0.02
    latency: float = 1.0
    cost: float = 1.0
    wanted: CanaryDecision = CanaryDecision.ROLL_BACK


TRUTHS = (
    Truth("twin", wanted=CanaryDecision.PROMOTE),
    Truth("errors +3 points", fail=0.05),
    Truth("30% slower", latency=1.3),
    Truth("25% dearer", cost=1.25),
    Truth("5% slower (within margin)", latency=1.05, wanted=CanaryDecision.PROMOTE),
)


def _turns(rng: random.Random, n: int, fail: float, latency: float, cost: float) -> list[tuple[bool, float, float]]:
    return [
        (rng.random() < fail, 900 * latency * rng.lognormvariate(0, 0.5), 0.002 * cost * rng.lognormvariate(0, 0.6))
        for _ in range(n)
    ]


def _arm(turns: list[tuple[bool, float, float]]) -> Arm:
    return Arm(
        turns=len(turns),
        failed=sum(1 for f, _, _ in turns if f),
        latencies_ms=[lat for f, lat, _ in turns if not f],
        costs_usd=[c for _, _, c in turns],
    )


def _naive(c: Arm, o: Arm) -> CanaryDecision:
    if min(c.turns, o.turns) < RULE.min_turns:
        return CanaryDecision.CONTINUE
    harms = (
        c.failed / c.turns - o.failed / o.turns - RULE.max_error_increase,
        statistics.fmean(map(math.log, c.latencies_ms))
        - statistics.fmean(map(math.log, o.latencies_ms))
        - math.log1p(RULE.max_latency_increase),
        statistics.fmean(c.costs_usd) / statistics.fmean(o.costs_usd) - 1 - RULE.max_cost_increase,
    )
    return CanaryDecision.ROLL_BACK if any(h > 0 for h in harms) else CanaryDecision.PROMOTE


def _run(truth: Truth, args: argparse.Namespace, rng: random.Random) -> dict[str, list[tuple[CanaryDecision, int]]]:
    out: dict[str, list[tuple[CanaryDecision, int]]] = {"ours": [], "naive": []}
    total = args.looks * args.per_look
    for _ in range(args.canaries):
        canary = _turns(rng, total, truth.fail, truth.latency, truth.cost)
        control = _turns(rng, total, 0.02, 1.0, 1.0)
        decided: dict[str, tuple[CanaryDecision, int] | None] = {"ours": None, "naive": None}
        for look in range(1, args.looks + 1):
            n = look * args.per_look
            c, o = _arm(canary[:n]), _arm(control[:n])
            if decided["ours"] is None:
                verdict = compare(c, o, RULE, args.looks).decision
                if verdict != CanaryDecision.CONTINUE:
                    decided["ours"] = (verdict, n)
            if decided["naive"] is None:
                verdict = _naive(c, o)
                if verdict != CanaryDecision.CONTINUE:
                    decided["naive"] = (verdict, n)
            if all(decided.values()):
                break
        for rule, found in decided.items():
            out[rule].append(found or (CanaryDecision.CONTINUE, total))
    return out


def _cost(rng: random.Random, repeats: int) -> tuple[float, float]:
    c, o = _arm(_turns(rng, 5000, 0.02, 1, 1)), _arm(_turns(rng, 5000, 0.02, 1, 1))
    started = time.perf_counter()
    for _ in range(repeats):
        compare(c, o, RULE, 96)
    ours = (time.perf_counter() - started) / repeats
    started = time.perf_counter()
    for _ in range(repeats):
        for arm in (c, o):
            statistics.fmean(arm.latencies_ms), statistics.fmean(arm.costs_usd)
    return ours, (time.perf_counter() - started) / repeats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks canary_rule", description=__doc__.split("\n")[0])
    parser.add_argument("--canaries", type=int, default=20)
    parser.add_argument("--looks", type=int, default=24)
    parser.add_argument("--per-look", type=int, default=250)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    print(f"{args.canaries} canaries per truth, {args.looks} looks of {args.per_look} turns per arm each")
    print(f"{'truth':<28} {'rule':<6} {'promoted':>9} {'rolled back':>12} {'inconclusive':>13} {'turns/arm':>10}")
    wrong = {"ours": 0, "naive": 0}
    for truth in TRUTHS:
        for rule, results in _run(truth, args, rng).items():
            share = {d: sum(1 for r, _ in results if r == d) / len(results) for d in CanaryDecision}
            turns = statistics.fmean(n for _, n in results)
            wrong[rule] += sum(1 for r, _ in results if r not in (truth.wanted, CanaryDecision.CONTINUE))
            print(
                f"{truth.name:<28} {rule:<6} {share[CanaryDecision.PROMOTE]:>9.0%}"
                f" {share[CanaryDecision.ROLL_BACK]:>12.0%} {share[CanaryDecision.CONTINUE]:>13.0%} {turns:>10.0f}"
            )
    runs = args.canaries * len(TRUTHS)
    print(f"wrong decisions: ours {wrong['ours']}/{runs}, naive {wrong['naive']}/{runs}")
    ours, bare = _cost(rng, 20)
    print(f"one look at 5,000 turns per arm: {ours * 1000:.2f} ms; averaging the columns only: {bare * 1000:.2f} ms")
    print(f"ratio: {ours / bare:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
