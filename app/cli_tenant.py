"""`aiaas tenant create` provisions a tenant and prints its first API key, once; `aiaas tenant list` lists
the tenants as the platform admin API does."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli_context import DATA_DIR_HELP, load_settings, require_database, run_database, table

EXIT_BAD_INPUT = 2
STATUSES = ("active", "suspended", "offboarding")


def add_tenant_parser(subparsers: Any) -> None:
    tenant = subparsers.add_parser("tenant", help="manage tenants")
    actions = tenant.add_subparsers(dest="tenant_command", required=True)
    create = actions.add_parser("create", help="create a tenant and print its first API key")
    create.add_argument("--name", required=True, help="display name, 1-200 printable characters")
    # Validated by the handler rather than `choices`, so bad input costs one line, not a usage dump.
    create.add_argument("--plan", default="free", help="free, pro or enterprise (default: free)")
    create.add_argument(
        "--demo",
        action="store_true",
        help="also seed the demo commerce world (customers, products, orders, shipments) and print its ids",
    )
    create.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    create.add_argument("--data-dir", type=Path, default=None, help=DATA_DIR_HELP)
    create.set_defaults(func=_create)
    listing = actions.add_parser("list", help="list every tenant: id, name, plan and status")
    listing.add_argument("--status", default=None, help="only tenants in this status: active, suspended, offboarding")
    listing.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    listing.add_argument("--data-dir", type=Path, default=None, help=DATA_DIR_HELP)
    listing.set_defaults(func=_list)


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
    import asyncio

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
    run_database(_register(args.data_dir, created.tenant_id), "copy the tenant to its region's database")

    demo = run_database(_seed_demo(args.data_dir, created.tenant_id), "seed the demo world") if args.demo else None
    if args.json:
        shown: dict[str, Any] = {"tenant_id": created.tenant_id, "api_key": created.api_key}
        print(json.dumps({**shown, "demo": demo} if demo else shown))
        return 0
    print(f"tenant_id: {created.tenant_id}")
    print(f"api_key:   {created.api_key}  (shown once; only its hash is stored)")
    if demo:
        print("demo world:")
        for kind in ("customers", "orders"):
            for label, ident in demo[kind].items():
                print(f"  {kind[:-1]:<9} {label:<12} {ident}")
        print(f"  products  {', '.join(demo['skus'])}")
    return 0


async def _register(data_dir: Path | None, tenant_id: str) -> None:
    """With regional databases, copy the tenant's row to its region's (`db/regions.py`); else nothing to do."""
    from db.regions import ResidencyError, open_database

    db = open_database(load_settings(data_dir), pool_size=1)
    try:
        await db.register_tenant(tenant_id)
    except ResidencyError as exc:
        raise RuntimeError(f"the tenant was created, but {exc}; configure that region's database") from exc
    finally:
        await db.close()


async def _seed_demo(data_dir: Path | None, tenant_id: str) -> dict[str, Any]:
    """The demo world for the new tenant, written through the app role under the tenant's row-level security."""
    from commerce.demo import seed_demo
    from db.regions import open_database

    db = open_database(load_settings(data_dir), pool_size=1)
    try:
        return (await seed_demo(db, tenant_id)).summary()
    finally:
        await db.close()


async def _all_tenants(app_url: str, status: str | None) -> list[dict[str, str]]:
    from db.database import Database
    from tenancy.tenant_admin import list_tenants

    db = Database(app_url, pool_size=1)
    found: list[dict[str, str]] = []
    try:
        cursor = None
        while True:
            page = await list_tenants(db, status=status, cursor=cursor, limit=200)
            found += [
                {"id": t.id, "name": t.name, "plan": t.plan, "status": t.status, "created_at": t.created_at.isoformat()}
                for t in page.items
            ]
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor
    finally:
        await db.close()


def _list(args: argparse.Namespace) -> int:
    if args.status is not None and args.status not in STATUSES:
        print(f"aiaas tenant list: status must be one of {', '.join(STATUSES)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = load_settings(args.data_dir)
    require_database(settings)
    tenants = run_database(_all_tenants(settings.resolved_app_database_url(), args.status), "list the tenants")
    if args.json:
        print(json.dumps(tenants, indent=2))
        return 0
    if not tenants:
        print("no tenants (create one with `aiaas tenant create --name NAME`)")
        return 0
    print(table(["id", "name", "plan", "status"], [[t["id"], t["name"], t["plan"], t["status"]] for t in tenants]))
    return 0
