"""Which tools a tenant has enabled.

A tenant's `tenant_tools` rows are only its deviations: a tool without a row is enabled by default, read,
write and irreversible tools alike (irreversible ones still ask a human when their approval rule says so).
Every worker and gateway asks this per call, so the rows are cached per process for a few seconds. When a
Redis client is given, each tenant also has a version counter there, bumped on every change: a cached
entry is only used while the version it was read at is current, so a tool disabled through the API is
refused by every worker at once rather than after the cache lifetime, for the price of one GET per check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession

from agents.sdk import REGISTRY, Tool, ToolRegistry
from contracts.agents import Effect
from db.database import Database, run_sql

# Enabled unless the tenant says otherwise.
DEFAULT_ENABLED: dict[Effect, bool] = {Effect.READ: True, Effect.WRITE: True, Effect.IRREVERSIBLE: True}
_VERSION_TTL_SECONDS = 7 * 24 * 3600


def default_enabled(item: Tool | None) -> bool:
    return DEFAULT_ENABLED.get(item.spec.effect, True) if item is not None else True


def _version_key(tenant_id: str) -> str:
    return f"aiaas:toolcfg:{{{tenant_id}}}"


@dataclass(frozen=True, slots=True)
class _Entry:
    rows: dict[str, bool]
    version: bytes | None
    loaded_at: float


async def load_overrides(session: AsyncSession) -> dict[str, bool]:
    """The bound tenant's rows: tool name -> enabled."""
    result = await run_sql(session, "SELECT tool, enabled FROM tenant_tools")
    return {row.tool: bool(row.enabled) for row in result}


async def set_enabled(session: AsyncSession, tenant_id: str, tool: str, enabled: bool) -> bool | None:
    """Store the tenant's choice; returns what was stored before (None: no row, the default applied)."""
    previous = await run_sql(session, "SELECT enabled FROM tenant_tools WHERE tool = :tool FOR UPDATE", {"tool": tool})
    before = previous.scalar_one_or_none()
    await run_sql(
        session,
        "INSERT INTO tenant_tools (tenant_id, tool, enabled, updated_at) VALUES (:tid, :tool, :enabled, now()) "
        "ON CONFLICT (tenant_id, tool) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now()",
        {"tid": tenant_id, "tool": tool, "enabled": enabled},
    )
    return None if before is None else bool(before)


class ToolEnablement:
    def __init__(
        self,
        db: Database,
        *,
        redis: Redis | None = None,
        registry: ToolRegistry | None = None,
        ttl_seconds: float = 5.0,
    ) -> None:
        self._db = db
        self._redis = redis
        self._registry = registry or REGISTRY
        self._ttl = ttl_seconds
        self._cache: dict[str, _Entry] = {}

    async def _version(self, tenant_id: str) -> bytes | None:
        if self._redis is None:
            return None
        value: Any = await self._redis.get(_version_key(tenant_id))
        return bytes(value) if value is not None else b"0"

    async def overrides(self, tenant_id: str) -> dict[str, bool]:
        version = await self._version(tenant_id)
        now = time.monotonic()
        entry = self._cache.get(tenant_id)
        if entry is not None and entry.version == version and now - entry.loaded_at < self._ttl:
            return entry.rows
        async with self._db.tenant_session(tenant_id) as session:
            rows = await load_overrides(session)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[tenant_id] = _Entry(rows=rows, version=version, loaded_at=now)
        return rows

    async def is_enabled(self, tenant_id: str, tool: str) -> bool:
        rows = await self.overrides(tenant_id)
        if tool in rows:
            return rows[tool]
        return default_enabled(self._registry.get(tool))

    async def enabled_map(self, tenant_id: str, names: list[str]) -> dict[str, bool]:
        rows = await self.overrides(tenant_id)
        return {name: rows.get(name, default_enabled(self._registry.get(name))) for name in names}

    async def invalidate(self, tenant_id: str) -> None:
        """Forget the tenant's cached rows here and, through the version counter, in every other process."""
        self._cache.pop(tenant_id, None)
        if self._redis is not None:
            key = _version_key(tenant_id)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, _VERSION_TTL_SECONDS)
                await pipe.execute()
