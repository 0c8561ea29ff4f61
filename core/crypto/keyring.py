"""Per-tenant data keys (DEKs): created on first use, rotated on demand, cached unwrapped for a bounded time.

A DEK is a random 256-bit AES-GCM key. Only its wrapped form (by the KMS's key-encryption key) is stored;
the unwrapped key lives in this process's memory for at most `ttl_seconds`, so a retired or shredded key
stops working everywhere within that time, and a KMS or database outage is only felt after it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.crypto.kms import KEY_BYTES, Kms
from core.crypto.store import KeyStore, StoredKey, check_scope

log = structlog.get_logger("aiaas.crypto")
T = TypeVar("T")


class DataKeyNotFound(LookupError):
    """The payload names a key version this tenant does not have (tampered, or the key was shredded)."""


@dataclass(frozen=True)
class DataKey:
    tenant_id: str
    version: int
    aead: AESGCM = field(repr=False, compare=False)


class _TtlCache:
    """Least-recently-used entries, each valid for `ttl` seconds from when it was stored."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, DataKey]] = OrderedDict()

    def get(self, key: Hashable) -> DataKey | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, value: DataKey) -> None:
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class Keyring:
    def __init__(
        self,
        store: KeyStore,
        kms: Kms,
        *,
        ttl_seconds: float = 300.0,
        max_entries: int = 4096,
        on_idle: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.kms = kms
        self._cache = _TtlCache(ttl_seconds, max_entries, clock)
        # Called whenever no load is running: lets a keyring that owns its database pool give the
        # connections back, so a client nobody closes holds none open between the rare key loads.
        self._on_idle = on_idle
        self._loading = 0
        self._inflight: dict[Hashable, asyncio.Task[DataKey]] = {}

    async def active(self, tenant_id: str) -> DataKey:
        """The key new payloads of this tenant are encrypted with; the first one is created on demand."""
        key = ("active", check_scope(tenant_id))
        return self._cache.get(key) or await self._once(key, partial(self._load_active, tenant_id))

    async def get(self, tenant_id: str, version: int) -> DataKey:
        key = ("version", check_scope(tenant_id), version)
        return self._cache.get(key) or await self._once(key, partial(self._load_version, tenant_id, version))

    async def rotate(self, tenant_id: str) -> DataKey:
        """A new version becomes active for encryption here at once, elsewhere within the cache TTL."""
        check_scope(tenant_id)
        raw = AESGCM.generate_key(bit_length=KEY_BYTES * 8)

        async def add() -> DataKey:
            stored = await self.store.add(tenant_id, await self.kms.wrap(raw), retire_active=True)
            return DataKey(tenant_id, stored.version, AESGCM(raw))

        key = await self._tracked(add)
        self._remember(key, active=True)
        log.info("data key rotated", tenant_id=tenant_id, version=key.version)
        return key

    def forget(self) -> None:
        """Drop every cached key, e.g. after a KEK compromise drill, so the next use reads them again."""
        self._cache.clear()

    async def _load_active(self, tenant_id: str) -> DataKey:
        stored = await self.store.active(tenant_id)
        if stored is None:
            wrapped = await self.kms.wrap(AESGCM.generate_key(bit_length=KEY_BYTES * 8))
            # Another process may have created it meanwhile; then its key wins and ours is dropped unused.
            stored = await self.store.add(tenant_id, wrapped, retire_active=False)
        key = await self._open(stored)
        self._remember(key, active=True)
        return key

    async def _load_version(self, tenant_id: str, version: int) -> DataKey:
        stored = await self.store.get(tenant_id, version)
        if stored is None:
            raise DataKeyNotFound(f"no data key version {version} for this scope")
        key = await self._open(stored)
        self._remember(key, active=False)
        return key

    async def _open(self, stored: StoredKey) -> DataKey:
        known = self._cache.get(("version", stored.tenant_id, stored.version))
        if known is not None:
            return known
        return DataKey(stored.tenant_id, stored.version, AESGCM(await self.kms.unwrap(stored.wrapped)))

    def _remember(self, key: DataKey, *, active: bool) -> None:
        self._cache.put(("version", key.tenant_id, key.version), key)
        if active:
            self._cache.put(("active", key.tenant_id), key)

    async def _once(self, key: Hashable, load: Callable[[], Awaitable[DataKey]]) -> DataKey:
        # A cold cache under load (a worker restart, a burst of one tenant's activities) costs one database
        # read and one unwrap per key, not one per payload.
        loop = asyncio.get_running_loop()
        task = self._inflight.get(key)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._tracked(load))
            self._inflight[key] = task
            task.add_done_callback(partial(self._settled, key))
        return await asyncio.shield(task)

    def _settled(self, key: Hashable, task: asyncio.Task[DataKey]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so a load whose waiters all went away logs no warning

    async def _tracked(self, load: Callable[[], Awaitable[T]]) -> T:
        self._loading += 1
        try:
            return await load()
        finally:
            self._loading -= 1
            if self._loading == 0 and self._on_idle is not None:
                try:
                    await self._on_idle()
                except Exception as exc:
                    log.warning("releasing key-store connections failed", error_type=type(exc).__name__)
