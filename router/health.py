"""Provider health shared by every worker: a model that keeps failing cools down for all of them.

It is the tool circuit breaker (`policies.circuit_breaker`), keyed by model under a reserved tenant: after
`failures` 429/5xx answers within the window the model is skipped for `cooldown_seconds`, then one call
probes it. State lives in Redis, so one worker's failures spare the others the same failed calls.
`LocalHealth` keeps the same rules in one process, for simulations that run without Redis.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Protocol

from redis.asyncio import Redis

from policies.circuit_breaker import CircuitBreaker

# Breaker keys are per (tenant, name); provider health is the platform's, not a tenant's.
PROVIDERS = "_providers"


class Health(Protocol):
    async def available(self, model: str) -> bool: ...
    async def failed(self, model: str) -> None: ...
    async def succeeded(self, model: str) -> None: ...


class ProviderHealth:
    def __init__(
        self, redis: Redis, *, failures: int = 3, window_seconds: float = 30.0, cooldown_seconds: float = 30.0
    ) -> None:
        self._breaker = CircuitBreaker(
            redis,
            failure_threshold=failures,
            window_seconds=window_seconds,
            open_seconds=cooldown_seconds,
            probe_seconds=cooldown_seconds,
        )

    async def available(self, model: str) -> bool:
        return (await self._breaker.before_call(PROVIDERS, model)).allowed

    async def failed(self, model: str) -> None:
        await self._breaker.record_failure(PROVIDERS, model)

    async def succeeded(self, model: str) -> None:
        await self._breaker.record_success(PROVIDERS, model)

    async def state(self, model: str) -> str:
        return await self._breaker.state(PROVIDERS, model)


class LocalHealth:
    """The same cooldown rule in memory, on a clock the caller may drive (one process only)."""

    def __init__(self, *, failures: int = 3, window_seconds: float = 30.0, cooldown_seconds: float = 30.0) -> None:
        self.clock = time.monotonic
        self._failures = failures
        self._window = window_seconds
        self._cooldown = cooldown_seconds
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._until: dict[str, float] = {}

    async def available(self, model: str) -> bool:
        return self.clock() >= self._until.get(model, 0.0)

    async def failed(self, model: str) -> None:
        now = self.clock()
        recent = self._recent[model]
        recent.append(now)
        while recent and recent[0] < now - self._window:
            recent.popleft()
        if len(recent) >= self._failures:
            self._until[model] = now + self._cooldown
            recent.clear()

    async def succeeded(self, model: str) -> None:
        self._recent.pop(model, None)
