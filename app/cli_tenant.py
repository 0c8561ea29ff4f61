"""`aiaas tenant create`: provision a tenant and print its first API key, once."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


def add_tenant_parser(subparsers: Any) -> None:
    tenant = subparsers.add_parser("tenant", help="manage tenants")
    actions = tenant.add_subparsers(dest="tenant_command", required=True)
    create = actions.add_parser("create", help="create a tenant and print its first API key")
    create.add_argument("--name", required=True, help="display name, 1-200 printable characters")
    # Validated by the handler rather than `choices`, so bad input costs one line, not a usage dump.
    create.add_argument("--plan", default="free", help="free, pro or enterprise (default: free)")
    create.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    create.add_argument("--data-dir", type=Path, default=None, help="where `aiaas up` keeps its state")
    create.set_defaults(func=_create)


def _database_url(data_dir: Path | None) -> str:
    from core.settings import get_settings

    settings = get_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    # Only the database is needed here, so a missing Temporal or Redis endpoint is no reason to refuse.
    database_url = settings.with_stack_endpoints().database_url
    if not database_url:
        raise RuntimeError(
            f"DATABASE_URL not set and no embedded stack is running under {settings.data_dir} "
            "(start one with `aiaas up`)"
        )
    return database_url


def _pepper() -> str:
    from core.settings import get_settings

    return get_settings().api_key_pepper.get_secret_value()


def _create(args: argparse.Namespace) -> int:
    # Imported here: `aiaas --help` builds every subcommand's parser and should not pay for the ORM.
    from sqlalchemy.exc import SQLAlchemyError

    from tenancy.tenants import create_tenant, validate_name, validate_plan

    try:
        name = validate_name(args.name)
        plan = validate_plan(args.plan)
    except ValueError as exc:
        print(f"aiaas tenant create: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    url = _database_url(args.data_dir)
    try:
        created = asyncio.run(create_tenant(url, name=name, plan=plan, pepper=_pepper()))
    except (OSError, SQLAlchemyError) as exc:
        # The first line of a driver error names the cause; the rest is SQL and a documentation link.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise RuntimeError(f"could not create the tenant: {reason}") from exc

    if args.json:
        print(json.dumps({"tenant_id": created.tenant_id, "api_key": created.api_key}))
    else:
        print(f"tenant_id: {created.tenant_id}")
        print(f"api_key:   {created.api_key}  (shown once; only its hash is stored)")
    return 0
