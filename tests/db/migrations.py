"""Running Alembic on a test's own connection, for tests that step the schema down and up again."""

from __future__ import annotations

from alembic import command
from sqlalchemy.engine import Connection

from db.migrate import alembic_config


def run_alembic(connection: Connection, action: str, revision: str) -> None:
    """`action` is `upgrade` or `downgrade`; meant for `AsyncConnection.run_sync`."""
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)
