"""The database handle and the tenant-scoped session.

The gateway and workers connect as `aiaas_app`, a role that row-level security binds. Which tenant a
transaction may see is a transaction-local setting (`set_config(..., true)`, the `SET LOCAL` equivalent): it
ends with the transaction, so a pooled connection handed to the next request carries no tenant at all, and a
connection with no tenant sees no rows.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Result, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from db.pool_ping import ping_when_idle

_ASYNC_DRIVER = "postgresql+asyncpg"
_ACCEPTED_DRIVERS = frozenset({"postgres", "postgresql", _ASYNC_DRIVER})
_SET_TENANT = text("SELECT set_config('app.tenant_id', :tid, true)")
MAX_TENANT_ID_CHARS = 64


def to_async_url(url: str) -> str:
    """The SQLAlchemy asyncpg URL for a libpq-style `postgresql://` URL (or one already for asyncpg)."""
    parsed = make_url(url)
    if parsed.drivername not in _ACCEPTED_DRIVERS:
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}; expected postgresql://")
    parsed = parsed.set(drivername=_ASYNC_DRIVER)
    # asyncpg spells libpq's `sslmode` as `ssl` and rejects unknown keywords, so managed-database URLs
    # copied from a console would otherwise fail at the first connect.
    if "sslmode" in parsed.query:
        query = dict(parsed.query)
        query.setdefault("ssl", query.pop("sslmode"))
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


def _check_tenant_id(tenant_id: str) -> str:
    # An empty id would silently match nothing; refuse it loudly instead of returning empty results.
    if not isinstance(tenant_id, str) or not tenant_id or len(tenant_id) > MAX_TENANT_ID_CHARS:
        raise ValueError("tenant_id must be a non-empty string")
    return tenant_id


class Database:
    """One async engine (asyncpg) and the sessions made from it."""

    def __init__(self, url: str, *, pool_size: int = 10, bind: TextClause = _SET_TENANT) -> None:
        # How a transaction is bound to its tenant; a regional data plane binds through a checking function.
        self._bind = bind
        self.engine: AsyncEngine = create_async_engine(
            to_async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            # Stale connections are found by `ping_when_idle`, without a round trip on every checkout.
            pool_pre_ping=False,
            connect_args={"server_settings": {"application_name": "aiaas"}},
        )
        ping_when_idle(self.engine)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def tenant_session(self, tenant_id: str) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction bound to `tenant_id`; commits on exit, rolls back on error."""
        tid = _check_tenant_id(tenant_id)
        # Inside `session.begin()` SQLAlchemy refuses any work after a commit or rollback, so the session
        # can never drift into a second transaction that lacks the tenant.
        async with self._sessions() as session, session.begin():
            await (await session.connection()).execute(self._bind, {"tid": tid})
            yield session

    def control_session(self, tenant_id: str) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for the tenant's control-plane rows (keys, members, its tenant row); see `db.regions`.
        One database holds both planes here."""
        return self.tenant_session(tenant_id)

    def region_session(self, region: str, tenant_id: str) -> AbstractAsyncContextManager[AsyncSession]:
        """The tenant's session on `region`'s database; one database serves every region here."""
        return self.tenant_session(tenant_id)

    def serves(self, region: str) -> bool:
        """Whether this deployment holds data of `region`; one database serves every region."""
        return True

    async def register_tenant(self, tenant_id: str) -> None:
        """Copy a new or changed tenant row to its region's database; nothing to copy with one database."""

    @asynccontextmanager
    async def admin_session(self) -> AsyncIterator[AsyncSession]:
        """A session with no tenant bound, for owner-level work; meaningful only on the admin URL."""
        async with self._sessions() as session, session.begin():
            yield session

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()


# The statements are the code's own constants, so a bounded cache holds every one of them. Parsing a
# statement's bind parameters cost more than a hundred microseconds each time on a busy machine, and a
# turn runs a few dozen statements.
_statement = functools.lru_cache(maxsize=4096)(text)


async def run_sql(session: AsyncSession, sql: str, params: Mapping[str, Any] | None = None) -> Result[Any]:
    """Run one SQL statement inside the session's transaction (and so under its tenant binding)."""
    connection = await session.connection()
    return await connection.execute(_statement(sql), dict(params or {}))
