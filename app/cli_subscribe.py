"""`aiaas admin subscribe`: start the subscription of an existing tenant, or of every active tenant lacking one.

    aiaas admin subscribe TENANT_ID [--plan pro] [--trial-days 14] [--payment-method pm_card_visa]
    aiaas admin subscribe --all [--trial-days N]

The plan defaults to the tenant's own. A tenant that has a subscription already is reported and left alone,
so the command is safe to run again (for example after each release, with `--all`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli_context import add_data_dir, load_settings, require_database, run_database

EXIT_BAD_INPUT = 2


def add_subscribe_parser(actions: Any) -> None:
    parser = actions.add_parser("subscribe", help="start the subscription of existing tenants")
    parser.add_argument("tenant_id", nargs="?", default=None, help="the tenant's id (or --all)")
    parser.add_argument("--all", action="store_true", help="every active tenant without a subscription")
    parser.add_argument("--plan", default=None, help="free, pro or enterprise (default: the tenant's plan)")
    parser.add_argument("--trial-days", type=int, default=0, help="start on a trial this many days long (0: none)")
    parser.add_argument("--payment-method", default=None, help="a payment method id, e.g. pm_card_visa")
    add_data_dir(parser)
    parser.set_defaults(func=_subscribe)


def _problem(args: argparse.Namespace) -> str | None:
    if (args.tenant_id is None) == (not args.all):
        return "give a tenant id or --all, not both"
    if args.all and (args.plan or args.payment_method):
        return "--all keeps each tenant's plan and takes no payment method"
    if not 0 <= args.trial_days <= 90:
        return "--trial-days must be between 0 and 90"
    return None


def _subscribe(args: argparse.Namespace) -> int:
    problem = _problem(args)
    if problem:
        print(f"aiaas admin subscribe: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    settings = load_settings(args.data_dir)
    require_database(settings)

    async def work() -> list[Any]:
        from billing.subscribe import subscribe_all, subscribe_tenant
        from db.codec import connect
        from db.database import Database

        db = Database(settings.resolved_app_database_url(), pool_size=2)
        try:
            client = await connect(settings, db=db)
            if args.all:
                return await subscribe_all(client, db, settings.task_queue, trial_days=args.trial_days)
            one = await subscribe_tenant(
                client,
                db,
                settings.task_queue,
                args.tenant_id,
                plan=args.plan,
                trial_days=args.trial_days,
                payment_method=args.payment_method,
            )
            return [one]
        finally:
            await db.close()

    from pydantic import ValidationError

    from tenancy.tenant_admin import TenantNotFound

    try:
        done = run_database(work(), "start the subscription")
    except TenantNotFound:
        print(f"aiaas admin subscribe: no tenant {args.tenant_id}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValueError, ValidationError) as exc:
        print(f"aiaas admin subscribe: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for item in done:
        print(f"{item.tenant_id}  {item.plan}  {'started' if item.started else 'had one already'}")
    return 0
