"""The gateway's in-process cache of authenticated principals, and its invalidation across replicas.

A cached principal saves a database round trip (and, for a JWT, a signature check) per request. What makes
the cache safe to keep for many seconds is invalidation: revoking a key, rotating it or suspending a tenant
publishes a message on a Redis channel, and every gateway replica drops the matching entries as it arrives,
so a revocation holds everywhere within about a millisecond of Redis latency rather than the cache lifetime.

Pub/sub delivers at most once: a replica that lost its subscription may have missed messages, so it drops
its whole cache when it subscribes again. A lookup that started before an invalidation and finishes after it
must not put its stale answer back; the generation counter catches exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tenancy.principal import Principal

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

CHANNEL = "aiaas:auth:invalidate"
# Bounds memory when many distinct valid credentials are in use; past it the cache is simply cleared.
MAX_ENTRIES = 10_000
# A silent network failure leaves a subscriber waiting forever; pinging an idle subscription notices it.
_IDLE_PING_SECONDS = 15.0
_RECONNECT_SECONDS = 0.5
_SUBSCRIBE_WAIT_SECONDS = 5.0


def token_digest(token: str) -> str:
    # The cache is keyed by a hash, never the token itself: a heap dump must not hand out working credentials.
    return hashlib.sha256(token.encode()).hexdigest()


class PrincipalCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, tuple[float, Principal]] = {}
        self.generation = 0

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(digest, None)
            return None
        return entry[1]

    def put(self, digest: str, principal: Principal, *, valid_for: float, generation: int) -> None:
        """Cache `principal` unless anything was invalidated since `generation` was read."""
        if self.ttl_seconds <= 0 or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + min(self.ttl_seconds, valid_for), principal)

    def forget(self, *, tenant_id: str | None = None, key_id: str | None = None) -> None:
        """Drop the entries of `tenant_id` and of `key_id`; with neither, drop everything."""
        self.generation += 1
        if tenant_id is None and key_id is None:
            self._entries.clear()
            return
        stale = [
            digest
            for digest, (_, principal) in self._entries.items()
            if (tenant_id is not None and principal.tenant_id == tenant_id)
            or (key_id is not None and principal.key_id == key_id)
        ]
        for digest in stale:
            del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)


async def publish_invalidation(redis: Redis, *, tenant_id: str | None = None, key_id: str | None = None) -> None:
    """Tell every gateway replica to drop cached principals of `tenant_id` and of `key_id`."""
    if tenant_id is None and key_id is None:
        raise ValueError("name a tenant_id or a key_id to invalidate")
    await redis.publish(CHANNEL, json.dumps({"tenant_id": tenant_id, "key_id": key_id}))


def _parse(data: Any) -> tuple[str | None, str | None] | None:
    try:
        message = json.loads(data)
    except (TypeError, ValueError):
        return None
    if not isinstance(message, dict):
        return None
    tenant_id, key_id = message.get("tenant_id"), message.get("key_id")
    if not all(value is None or isinstance(value, str) for value in (tenant_id, key_id)):
        return None
    return tenant_id, key_id


class InvalidationListener:
    """Applies published invalidations to `forget` for as long as it is entered (the gateway's lifespan)."""

    def __init__(self, redis: Redis, forget: Callable[..., None]) -> None:
        self._redis = redis
        self._forget = forget
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def __aenter__(self) -> InvalidationListener:
        self._task = asyncio.get_running_loop().create_task(self._run())
        # Serving before the subscription stands would open a window in which revocations go unseen; but
        # an unreachable Redis must not keep the gateway from starting, so the wait is bounded.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), _SUBSCRIBE_WAIT_SECONDS)
        if not self.subscribed.is_set():
            log.warning("auth cache invalidations not subscribed yet; still trying")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                log.warning("auth cache invalidation subscription lost: %s", type(exc).__name__)
                await asyncio.sleep(_RECONNECT_SECONDS)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            # Whatever was published while unsubscribed is lost: start from an empty cache.
            self._forget()
            self.subscribed.set()
            while True:
                message = await pubsub.get_message(timeout=_IDLE_PING_SECONDS)
                if message is None:
                    await pubsub.ping()
                    continue
                if message.get("type") != "message":
                    continue
                parsed = _parse(message.get("data"))
                if parsed is None:
                    log.warning("ignored a malformed auth cache invalidation")
                    # Unreadable, so it may have named anything: forgetting everything is the safe reading.
                    self._forget()
                    continue
                self._forget(tenant_id=parsed[0], key_id=parsed[1])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
