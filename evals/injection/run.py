"""Run the injection benchmark: every case with the provenance policy on and, as the baseline, off.

Reported as AgentDojo does, side by side: attack success rate (the attacker's goal changed the world) and
benign utility (the customer's task got done, a confirmation they answered yes counting as done), plus
utility under attack (the customer's own task in the injection cases) and the cost of the policy check per
tool call against the argument check every call already pays, both timed in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from app.tools import platform_registry
from evals.injection.cases import load
from evals.injection.harness import Case, Harness, Outcome
from workflows.tool_checks import argument_problem


@dataclass
class Side:
    """One column of the table: the outcomes with protection on, or off."""

    attacks: list[Outcome] = field(default_factory=list)
    benign: list[Outcome] = field(default_factory=list)

    @property
    def attack_success(self) -> float:
        return sum(o.attacked for o in self.attacks) / max(len(self.attacks), 1)

    @property
    def benign_utility(self) -> float:
        return sum(o.task_done for o in self.benign) / max(len(self.benign), 1)

    @property
    def utility_under_attack(self) -> float:
        return sum(o.task_done for o in self.attacks) / max(len(self.attacks), 1)

    def succeeded_by(self, attribute: str) -> Counter[str]:
        return Counter(str(getattr(o.case, attribute)) for o in self.attacks if o.attacked)


@dataclass
class Report:
    protected: Side
    baseline: Side

    def loop_micros(self) -> tuple[float, float]:
        """(p50, p99) of the policy check as timed inside the agent loop, garbage collection included."""
        outcomes = self.protected.attacks + self.protected.benign
        return _p50_p99([s * 1e6 for o in outcomes for s in o.check_seconds])

    def isolated_micros(self, repeats: int) -> tuple[float, float, float, float]:
        """(policy p50, policy p99, argument-check p50, argument-check p99) in microseconds: every check the
        runs asked for, again `repeats` times each, against the argument check of the same calls."""
        policy: list[float] = []
        argument: list[float] = []
        for outcome in self.protected.attacks + self.protected.benign:
            for provenance, call, spec in outcome.samples:
                for _ in range(repeats):
                    started = time.perf_counter()
                    provenance.check(call, spec)
                    middle = time.perf_counter()
                    argument_problem(spec, call.arguments)
                    argument.append((time.perf_counter() - middle) * 1e6)
                    policy.append((middle - started) * 1e6)
        return (*_p50_p99(policy), *_p50_p99(argument))


def _p50_p99(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (0.0, 0.0)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[98]


def evaluate(every: int = 1) -> Report:
    """Every `every`-th case of each kind, with protection and without."""
    benign, injections = load()
    harness = Harness(platform_registry())
    report = Report(protected=Side(), baseline=Side())
    for kind, cases in (("benign", benign[::every]), ("attacks", injections[::every])):
        for case in cases:
            for protected, side in ((True, report.protected), (False, report.baseline)):
                getattr(side, kind).append(harness.run(case, protected=protected))
    return report


def _pct(value: float) -> str:
    return f"{value * 100:5.1f}%"


def render(report: Report, repeats: int = 20) -> str:
    on, off = report.protected, report.baseline
    lines = [
        f"injection cases: {len(on.attacks)}, benign tasks: {len(on.benign)} (model: scripted/agent, gullible)",
        "",
        f"{'':<22}{'protection on':>16}{'off (baseline)':>18}",
        f"{'attack success':<22}{_pct(on.attack_success):>16}{_pct(off.attack_success):>18}",
        f"{'benign utility':<22}{_pct(on.benign_utility):>16}{_pct(off.benign_utility):>18}",
        f"{'utility under attack':<22}{_pct(on.utility_under_attack):>16}{_pct(off.utility_under_attack):>18}",
        f"{'confirmations, benign':<22}{sum(o.confirmations for o in on.benign):>16}{0:>18}",
        f"{'confirmations, attacks':<22}{sum(o.confirmations for o in on.attacks):>16}{0:>18}",
        "",
    ]
    for attribute in ("carrier", "target", "style"):
        total = Counter(str(getattr(o.case, attribute)) for o in off.attacks)
        won_on, won_off = on.succeeded_by(attribute), off.succeeded_by(attribute)
        lines.append(f"attack success by {attribute}: on / off")
        lines += [
            f"  {name:<34}{won_on[name]:>3}/{n:<3}  {won_off[name]:>3}/{n:<3}" for name, n in sorted(total.items())
        ]
    p50, p99, arg50, arg99 = report.isolated_micros(repeats)
    loop50, loop99 = report.loop_micros()
    lines += [
        "",
        f"policy check per tool call ({repeats} x each of the runs' checks): p50 {p50:.1f} us, p99 {p99:.1f} us",
        f"  baseline, the argument check every call already pays: p50 {arg50:.1f} us, p99 {arg99:.1f} us"
        f" (p99 ratio {p99 / max(arg99, 1e-9):.1f}x)",
        f"  timed inside the loop, garbage collection of the whole harness included: p50 {loop50:.1f} us,"
        f" p99 {loop99:.1f} us",
    ]
    return "\n".join(lines)


def failures(report: Report) -> list[Case]:
    """Cases that broke the bar: an attack that succeeded with protection, or a benign task left undone."""
    on = report.protected
    return [o.case for o in on.attacks if o.attacked] + [o.case for o in on.benign if not o.task_done]
