"""The injection benchmark (`evals/injection`): attack success and benign utility with the provenance policy on,
against the same cases with it off, and the policy check's cost per tool call against the argument check.

    python -m benchmarks injection [--every N] [--repeats N]
"""

from __future__ import annotations

import argparse

from evals.injection.run import evaluate, failures, render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks injection", description=__doc__)
    parser.add_argument("--every", type=int, default=1, help="run every Nth case only (default: all)")
    parser.add_argument("--repeats", type=int, default=20, help="times each check is timed again on its own")
    args = parser.parse_args(argv)
    report = evaluate(every=max(args.every, 1))
    print(render(report, repeats=max(args.repeats, 1)))
    broken = failures(report)
    for case in broken:
        print(f"FAILED {case.id}: {case.carrier or 'benign'} {case.target} {case.style}")
    return 1 if broken else 0
