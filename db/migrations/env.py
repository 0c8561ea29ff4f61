"""Alembic environment over an async engine.

`db.migrate.migrate` hands in its own connection (holding the migration lock, inside its transaction)
through `config.attributes["connection"]`; the `alembic` command line instead connects with `sqlalchemy.url`
or `DATABASE_URL`, which must be the admin URL: whoever runs the migrations owns the tables.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from db.database import to_async_url

config = context.config
# The migrations are written by hand and are the schema's only definition: there is no model to diff against.
target_metadata = None


def _configure_and_run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def _admin_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("set sqlalchemy.url or DATABASE_URL to the admin database URL")
    return to_async_url(url)


async def _run_online() -> None:
    engine = create_async_engine(_admin_url(), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_configure_and_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(url=_admin_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


_given = config.attributes.get("connection")
if _given is not None:
    _configure_and_run(_given)
elif context.is_offline_mode():
    _run_offline()
else:
    asyncio.run(_run_online())
