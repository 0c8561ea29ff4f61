"""Connectors per tenant, as tool activities receive them in `ToolContext.connectors`.

`await factory.for_tenant(tenant_id)` returns `{"payments", "shipping", "crm", "db"}`: the three systems, each
the tenant's HTTP connector where it configured one and the sandbox otherwise, and under `"db"` the
`Database` itself, which tools need for `check_fault` (`ctx.connector("db")`) without ToolContext growing a
field. The result is cached per tenant for `ttl_seconds`, so a configuration change reaches running workers
within that time and a busy tenant costs one small query per period, not one per tool call.

The factory owns one pooled HTTP client; `await factory.close()` when the worker stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NoReturn

import httpx
import structlog

from commerce.connectors.base import DB_KEY, ConnectorError
from commerce.connectors.config import HttpTarget, SecretBox, SecretUnavailable, build_keyring, load_http_targets
from commerce.connectors.http import HttpCrm, HttpPayments, HttpShipping
from commerce.connectors.sandbox import SandboxCrm, SandboxPayments, SandboxShipping
from core.crypto.keyring import Keyring
from core.settings import Settings
from db.database import Database

log = structlog.get_logger("aiaas.connectors")

DEFAULT_TTL_SECONDS = 5.0
_MAX_CACHED_TENANTS = 4096
_SANDBOX = {"payments": SandboxPayments, "shipping": SandboxShipping, "crm": SandboxCrm}
_HTTP = {"payments": HttpPayments, "shipping": HttpShipping, "crm": HttpCrm}


class UnavailableConnector:
    """Stands in for a connector whose configuration cannot be used (its secret no longer opens): every call
    fails as retryable, while the tenant's other connectors and its read-only tools keep working."""

    def __init__(self, system: str, reason: str) -> None:
        self.system = system
        self.reason = reason

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        async def unavailable(*_args: Any, **_kwargs: Any) -> NoReturn:
            raise ConnectorError(f"the {self.system} connector is unavailable: {self.reason}")

        return unavailable


class ConnectorFactory:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        keyring: Keyring | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.settings = settings
        self.ttl_seconds = ttl_seconds
        self._box = SecretBox(keyring or build_keyring(db, settings))
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, object]]] = {}
        self._client: httpx.AsyncClient | None = None

    async def for_tenant(self, tenant_id: str) -> dict[str, object]:
        cached = self._cache.get(tenant_id)
        if cached is not None and cached[0] > self._clock():
            return dict(cached[1])
        connectors = await self._build(tenant_id)
        if len(self._cache) >= _MAX_CACHED_TENANTS:
            self._cache.clear()
        self._cache[tenant_id] = (self._clock() + self.ttl_seconds, connectors)
        return dict(connectors)

    def forget(self, tenant_id: str | None = None) -> None:
        """Drop cached connectors (of one tenant, or all), so the next call reads the configuration again."""
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)

    async def close(self) -> None:
        self._cache.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _build(self, tenant_id: str) -> dict[str, object]:
        targets = await load_http_targets(self.db, self._box, tenant_id)
        connectors: dict[str, object] = {DB_KEY: self.db}
        for system, sandbox in _SANDBOX.items():
            target = targets.get(system)
            if target is None:
                connectors[system] = sandbox(self.db, tenant_id)
            elif isinstance(target, SecretUnavailable):
                log.warning("connector secret does not open", system=system, error=str(target))
                connectors[system] = UnavailableConnector(system, "its signing secret cannot be read")
            else:
                connectors[system] = self._http(system, target)
        return connectors

    def _http(self, system: str, target: HttpTarget) -> object:
        if self._client is None:
            # Redirects are never followed: a signed request must not be replayed to wherever one points.
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return _HTTP[system](self._client, target.base_url, target.secret, target.timeout_seconds)
