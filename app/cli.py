"""The `aiaas` command: one entry point; each subcommand comes from the composition root that runs it."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from app import (
    cli_admin,
    cli_audit,
    cli_chat,
    cli_data_keys,
    cli_deploy,
    cli_dr,
    cli_eval,
    cli_keys,
    cli_mail,
    cli_migrate,
    cli_router,
    cli_status,
    cli_tenant,
    cli_up,
)

AddParser = Callable[[Any], None]
# Each subcommand's module keeps its heavy imports inside the command, so `aiaas --help` stays fast. The
# worker's and the gateway's modules import their servers at the top: they are loaded only when chosen,
# and until then stand in the listing under their name and summary.
_SUBCOMMANDS: tuple[AddParser | tuple[str, str, str], ...] = (
    cli_up.add_up_parser,
    cli_status.add_status_parser,
    cli_tenant.add_tenant_parser,
    cli_keys.add_keys_parser,
    cli_data_keys.add_data_key_parser,
    cli_audit.add_audit_parser,
    cli_chat.add_chat_parser,
    ("worker", "app.worker", "run a worker for the platform's task queue"),
    ("gateway", "app.gateway", "run the HTTP gateway"),
    ("smtp", "app.smtp", "run the development SMTP receiver for email channels"),
    cli_admin.add_admin_parser,
    cli_migrate.add_migrate_parser,
    cli_router.add_router_parser,
    cli_eval.add_eval_parser,
    cli_dr.add_dr_parser,
    cli_mail.add_mail_parser,
    cli_deploy.add_deploy_parser,
)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("aiaas")
    except PackageNotFoundError:
        return "unknown (not installed; run `pip install -e .`)"


class _Version(argparse.Action):
    """`--version`, looked up only when asked for: reading package metadata is not free."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the installed version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"aiaas {version()}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; of the deferred subcommands only `command` is built for real (all of them when None)."""
    parser = argparse.ArgumentParser(prog="aiaas", description="Multi-tenant AI agent platform")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    for entry in _SUBCOMMANDS:
        if not isinstance(entry, tuple):
            entry(sub)
            continue
        name, module, summary = entry
        if command is None or command == name:
            getattr(importlib.import_module(module), f"add_{name}_parser")(sub)
        else:
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def _chosen(argv: Sequence[str]) -> str:
    # The top level takes no option with a value, so the first word that is not an option is the command.
    return next((word for word in argv if not word.startswith("-")), "")


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_chosen(words)).parse_args(words)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        # Expected operational failures (a taken port, a missing part) get one clear line.
        print(f"aiaas: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # Anything else is still one line: a traceback tells a user nothing they can act on.
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"aiaas {args.command}: unexpected error: {detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
