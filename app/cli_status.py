"""`aiaas status`: which parts of the platform answer, each checked the way its clients reach it.

The endpoints come from where the worker and gateway find them (the environment, else the `stack.json` of a
running `aiaas up`), the gateway and the worker's metrics endpoint from that `up`'s `up.json`. All checks run
at once, each bounded by `--timeout`; the exit status is 1 when any part that should run does not answer.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from app.cli_context import add_data_dir, load_settings, table

if TYPE_CHECKING:
    from app.cli_status_checks import Check

EXIT_DOWN = 1
DEFAULT_TIMEOUT = 5.0


def add_status_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status", help="check which parts of a running `aiaas up` answer; exit 1 if one is down"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each check may take before its part counts as down (default: {DEFAULT_TIMEOUT:g})",
    )
    add_data_dir(parser)
    parser.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from app.cli_status_checks import run_checks
    from core.stack.running import read_running_apps

    if args.timeout <= 0:
        raise RuntimeError("--timeout must be positive")
    settings = load_settings(args.data_dir)
    apps = read_running_apps(settings.data_dir)
    checks = run_checks(settings, apps, args.timeout)
    launcher = (
        "not running"
        if apps is None
        else (f"running (pid {apps.launcher_pid})" if apps.launcher_alive else f"gone (pid {apps.launcher_pid})")
    )
    down = [check.part for check in checks if check.state == "down"]
    if args.json:
        report = {
            "data_dir": str(settings.data_dir),
            "up": launcher,
            "parts": [check.as_dict() for check in checks],
            "ok": not down,
        }
        print(json.dumps(report, indent=2))
    else:
        print(f"aiaas up: {launcher} (data in {settings.data_dir.resolve()})")
        print(_render(checks))
        if down:
            print(f"down: {', '.join(down)}")
    return EXIT_DOWN if down else 0


def _render(checks: list[Check]) -> str:
    rows = [
        [check.part, check.state, check.where or "-", check.detail + (f" ({check.millis} ms)" if check.millis else "")]
        for check in checks
    ]
    return table(["part", "state", "where", "detail"], rows)
