"""`aiaas router train`: fit a router from a routing table (graded small and large answers) and store it.

The artefact is a small JSON file (weights, calibration map, cost/quality curve) that a worker loads with
`AIAAS_ROUTER_ARTEFACT=PATH`, offline; its version names its content. The table's format is in
`router/table.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_router_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("router", help="model routing: fit a router from graded answers")
    commands = parser.add_subparsers(dest="router_command", required=True)
    train = commands.add_parser("train", help="fit a calibrated router from a routing table (JSON lines)")
    train.add_argument("--table", type=Path, required=True, help="JSON lines of graded prompts ('-': stdin)")
    train.add_argument("--out", type=Path, required=True, help="where to write the router artefact (JSON)")
    train.add_argument(
        "--calibration", choices=("platt", "isotonic"), default="platt", help="calibration map (default: platt)"
    )
    train.add_argument(
        "--cost-ratio", type=float, default=0.06, help="small tier's price over the large tier's (default: 0.06)"
    )
    train.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from router.table import TableError, read_table
    from router.train import fit

    if not 0 < args.cost_ratio <= 1:
        raise RuntimeError("--cost-ratio must be in (0, 1]")
    try:
        source = sys.stdin.read().splitlines() if str(args.table) == "-" else args.table.read_text().splitlines()
        clf = fit(read_table(source), cost_ratio=args.cost_ratio, calibration=args.calibration)
    except OSError as exc:
        raise RuntimeError(f"cannot read {args.table}: {exc.strerror}") from exc
    except (TableError, ValueError) as exc:
        raise RuntimeError(str(exc)) from exc
    clf.save(args.out)
    print(json.dumps({"version": clf.version, "ece": clf.ece, "path": str(args.out)}))
    return 0
