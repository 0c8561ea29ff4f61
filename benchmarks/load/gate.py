"""The load scenario with a gate: Locust, headless and bounded in time, against the platform on loopback.

Starts a throwaway stack with the platform's processes (as `aiaas up` runs them), runs the chat clients of
`locustfile.py` for `--seconds`, and compares each measured name (the TURN and the HTTP routes) with the
committed baseline (`baseline.json`, next to this file): the run fails (exit 1) when a p95 is more than 20%
above its baseline or more than 0.5% of requests failed. `--write-baseline` records this run as the new
baseline instead. Needs the `load` extra (`pip install -e '.[load]'`); run by hand or nightly, not in CI.

    python -m benchmarks load --users 16 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from benchmarks.platform_processes import running_platform
from benchmarks.turn_latency import _platform_turns
from core.stack.stack import throwaway_stack

HERE = Path(__file__).parent
BASELINE = HERE / "baseline.json"
P95_TOLERANCE = 1.20
MAX_FAILURE_RATIO = 0.005


def read_stats(csv_path: Path) -> dict[str, dict[str, float]]:
    """Locust's `<prefix>_stats.csv`: per name, requests, failures and the 95th percentile in ms."""
    stats: dict[str, dict[str, float]] = {}
    with csv_path.open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated" or not row["Request Count"]:
                continue
            stats[f"{row['Type']} {row['Name']}"] = {
                "requests": float(row["Request Count"]),
                "failures": float(row["Failure Count"]),
                "p95_ms": float(row["95%"] or 0),
            }
    return stats


def judge(stats: dict[str, dict[str, float]], baseline: dict[str, dict[str, float]]) -> list[str]:
    """What fails the gate; empty when it passes."""
    problems: list[str] = []
    requests = sum(s["requests"] for s in stats.values())
    failures = sum(s["failures"] for s in stats.values())
    if requests == 0:
        return ["no requests were made"]
    if failures / requests > MAX_FAILURE_RATIO:
        problems.append(f"{failures:.0f} of {requests:.0f} requests failed (limit {MAX_FAILURE_RATIO:.1%})")
    for name, base in baseline.items():
        measured = stats.get(name)
        if measured is None:
            problems.append(f"{name}: not measured")
        elif measured["p95_ms"] > base["p95_ms"] * P95_TOLERANCE:
            problems.append(f"{name}: p95 {measured['p95_ms']:.0f} ms > {P95_TOLERANCE:.2f} x {base['p95_ms']:.0f} ms")
    return problems


def _locust(host: str, api_key: str, args: argparse.Namespace, prefix: Path) -> None:
    locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    if locust is None:
        raise SystemExit("locust is not installed: pip install -e '.[load]'")
    argv = [locust, "-f", str(HERE / "locustfile.py"), "--headless", "--host", host]
    argv += ["-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.seconds}s", "--csv", str(prefix)]
    argv += ["--only-summary", "--stop-timeout", "35"]
    env = {**os.environ, "AIAAS_LOAD_API_KEY": api_key}
    subprocess.run(argv, env=env, check=False, timeout=args.seconds + 120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--spawn-rate", type=float, default=4.0)
    parser.add_argument("--seconds", type=int, default=60)
    cores = len(os.sched_getaffinity(0))
    parser.add_argument("--workers", type=int, default=cores)
    parser.add_argument("--gateways", type=int, default=cores)
    parser.add_argument("--write-baseline", action="store_true", help="record this run as the baseline")
    args = parser.parse_args(argv)

    with (
        tempfile.TemporaryDirectory(prefix="aiaas-load-") as out,
        throwaway_stack("aiaas-load-", task_queue=f"load-{uuid.uuid4().hex[:6]}") as settings,
        running_platform(settings, args.workers, args.gateways) as platform,
    ):
        prefix = Path(out) / "run"
        # A few turns first, so that the load meets workers that poll, not workers still starting.
        asyncio.run(_platform_turns(platform.base_url, platform.api_key, 2, args.gateways * 2))
        _locust(platform.base_url, platform.api_key, args, prefix)
        # An event stream is counted by Locust when it closes, which depends on how the run ends: not gated.
        stats = {k: v for k, v in read_stats(Path(f"{prefix}_stats.csv")).items() if "/events" not in k}
    for name, figures in sorted(stats.items()):
        requests, failures, p95 = figures["requests"], figures["failures"], figures["p95_ms"]
        print(f"  {name:<50} n={requests:<6.0f} failed={failures:<4.0f} p95={p95:.0f} ms")
    if args.write_baseline:
        BASELINE.write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
        print(f"baseline written to {BASELINE}")
        return 0
    baseline = json.loads(BASELINE.read_text())
    problems = judge(stats, baseline)
    print("gate: " + ("passed" if not problems else "FAILED\n  " + "\n  ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
