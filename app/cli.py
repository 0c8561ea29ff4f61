"""The `aiaas` command: one entry point, subcommands registered by the package that owns them."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# (module, function adding the subcommand's parser). Imported lazily so `aiaas --help` stays fast and a
# subcommand's heavy imports only load when it runs.
_SUBCOMMANDS: tuple[tuple[str, str], ...] = (
    ("app.up", "add_up_parser"),
    ("app.cli_tenant", "add_tenant_parser"),
    ("app.worker", "add_worker_parser"),
    ("app.gateway", "add_gateway_parser"),
    ("app.cli_admin", "add_admin_parser"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiaas", description="Multi-tenant AI agent platform")
    sub = parser.add_subparsers(dest="command", required=True)
    for module_name, function_name in _SUBCOMMANDS:
        getattr(importlib.import_module(module_name), function_name)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        # Expected operational failures (a taken port, a missing part) get one clear line.
        print(f"aiaas: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
