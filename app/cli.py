"""The `aiaas` command: one entry point; each subcommand comes from the composition root that runs it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app import cli_admin, cli_tenant, gateway, up, worker

# Each subcommand's module keeps its heavy imports inside the command, so `aiaas --help` stays fast.
_SUBCOMMANDS = (
    up.add_up_parser,
    cli_tenant.add_tenant_parser,
    worker.add_worker_parser,
    gateway.add_gateway_parser,
    cli_admin.add_admin_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiaas", description="Multi-tenant AI agent platform")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_parser in _SUBCOMMANDS:
        add_parser(sub)
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
