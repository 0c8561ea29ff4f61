"""`aiaas migrate`: bring the database to the current schema and provision the application role.

`aiaas up` migrates its embedded Postgres by itself; a deployment runs this once per release, before the new
workers and gateways start (infra/k8s/migrate.yaml). It connects with `DATABASE_URL` (the owner role),
sets the app role's password from `AIAAS_APP_DB_PASSWORD`, and is safe to run twice or concurrently: the
migration takes an advisory lock and changes nothing when the schema is current.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli_context import add_data_dir, load_settings, require_database


def add_migrate_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("migrate", help="apply database migrations (DATABASE_URL, the owner role)")
    parser.add_argument("--json", action="store_true", help="print the schema revision as JSON")
    add_data_dir(parser)
    parser.set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    import asyncio

    from db.migrate_regions import migrate_all

    settings = load_settings(args.data_dir)
    url = require_database(settings)
    # The control plane, then each region's data plane when AIAAS_REGION_DATABASE_URLS names them.
    migrated = asyncio.run(migrate_all(settings.model_copy(update={"database_url": url})))
    revision = asyncio.run(_revision(url))
    if args.json:
        print(json.dumps({"revision": revision, "databases": migrated}))
    else:
        for database, region in migrated.items():
            print(f"database {database} ({region or 'control plane'}) at revision {revision}")
    return 0


async def _revision(url: str) -> str:
    from sqlalchemy import pool, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from db.database import to_async_url

    engine = create_async_engine(to_async_url(url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SELECT version_num FROM alembic_version")))
    finally:
        await engine.dispose()
