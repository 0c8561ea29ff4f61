"""Checking a pooled connection before use only when it may have gone stale, not on every checkout.

SQLAlchemy's `pool_pre_ping` on asyncpg costs three round trips per checkout (BEGIN, a ping, ROLLBACK): with
the BEGIN, `set_config` and COMMIT of a tenant transaction, a one-query activity paid seven round trips for
one statement. Here a connection is pinged only when it sat idle in the pool for longer than
`PING_AFTER_IDLE_SECONDS`; one handed back moments ago is checked only for what asyncpg already knows (the
server closed it), which costs nothing. A server that restarted within that window still fails the first
statement on such a connection: SQLAlchemy then sees the disconnect, drops every pooled connection, and the
caller's retry (an activity's, a client's) gets fresh ones.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

PING_AFTER_IDLE_SECONDS = 2.0
_IDLE_SINCE = "aiaas_idle_since"


def ping_when_idle(engine: AsyncEngine, after_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # Raising DisconnectionError makes the pool discard this connection and hand out another.
        if _closed(dbapi_connection):
            raise DisconnectionError("the server closed this pooled connection")
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < after_seconds:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError("a pooled connection did not answer its ping") from exc


def _closed(dbapi_connection: Any) -> bool:
    raw = getattr(dbapi_connection, "_connection", None)
    is_closed = getattr(raw, "is_closed", None)
    return bool(is_closed()) if callable(is_closed) else False
