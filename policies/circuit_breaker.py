"""A circuit breaker per (tenant, tool), shared by every worker through Redis.

    closed --N failures within the window--> open --open_seconds later, first caller--> half_open (one probe)
    half_open --probe succeeds--> closed (failures forgotten)
    half_open --probe fails--> open again

While open, calls fail fast instead of piling onto a dependency that is down; in half-open exactly one
probe is let through at a time, and it holds a lease (`probe_seconds`, about the tool's timeout) so that a
probe whose worker died does not keep the circuit half-open for ever: once the lease lapses the next caller
becomes the probe.

Every transition is one Lua script, so concurrent workers never both open, both probe or lose a failure,
and every script reads the clock with Redis `TIME`: workers' clocks may disagree, the server's is one.
Keys carry the (tenant, tool) as a hash tag (cluster-safe, and offboarding's purge of `aiaas:*{tenant:*`
finds them) and expire when idle.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

log = structlog.get_logger("aiaas.policies.circuit_breaker")

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

# Transitions into each state and calls refused, across all tenants and tools (no tenant label: unbounded).
TRANSITIONS = Counter("aiaas_circuit_transitions_total", "Circuit breaker transitions, by new state", ["state"])
REJECTIONS = Counter("aiaas_circuit_rejections_total", "Calls refused by an open circuit", ["state"])

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: state hash. ARGV: probe lease ms, state ttl ms. Returns {allowed, state, retry_after_ms, moved_to}.
_BEFORE = (
    _NOW
    + """
local s = redis.call('HMGET', KEYS[1], 'state', 'until')
local state = s[1] or 'closed'
if state == 'closed' then return {1, 'closed', 0, ''} end
local deadline = tonumber(s[2] or '0')
if now < deadline then return {0, state, deadline - now, ''} end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'until', now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if state == 'half_open' then return {1, 'half_open', 0, ''} end
return {1, 'half_open', 0, 'half_open'}
"""
)

# KEYS: state hash, failures zset. Returns the new state, or '' when nothing changed.
_SUCCESS = """
if redis.call('HGET', KEYS[1], 'state') == 'half_open' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 'closed'
end
return ''
"""

# KEYS: state hash, failures zset. ARGV: threshold, window ms, open ms, state ttl ms, unique member.
_FAILURE = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local open_ms = tonumber(ARGV[3])
if state == 'open' then return '' end
if state == 'closed' then
  local window = tonumber(ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  redis.call('ZADD', KEYS[2], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[2], window)
  if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[1]) then return '' end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + open_ms)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 'open'
"""
)

# KEYS: state hash. The state a caller would meet now: an open circuit past its cool-down is half-open.
_STATE = (
    _NOW
    + """
local s = redis.call('HMGET', KEYS[1], 'state', 'until')
local state = s[1] or 'closed'
if state == 'open' and now >= tonumber(s[2] or '0') then return 'half_open' end
return state
"""
)


@dataclass(frozen=True, slots=True)
class BreakerDecision:
    allowed: bool
    state: str
    # How long until the circuit may let a call through again; 0 when allowed.
    retry_after_seconds: float


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def breaker_keys(tenant_id: str, tool: str) -> tuple[str, str]:
    tag = f"{{{tenant_id}:{tool}}}"
    return f"aiaas:cb:{tag}:state", f"aiaas:cb:{tag}:fail"


class CircuitBreaker:
    def __init__(
        self,
        redis: Redis,
        *,
        failure_threshold: int = 5,
        window_seconds: float = 60.0,
        open_seconds: float = 30.0,
        probe_seconds: float = 60.0,
        idle_seconds: float = 3600.0,
    ) -> None:
        if failure_threshold < 1 or min(window_seconds, open_seconds, probe_seconds, idle_seconds) <= 0:
            raise ValueError("the threshold must be >= 1 and every duration positive")
        self._redis = redis
        self.failure_threshold = failure_threshold
        self._window_ms = int(window_seconds * 1000)
        self._open_ms = int(open_seconds * 1000)
        self._probe_ms = int(probe_seconds * 1000)
        # The state outlives a whole open -> half-open -> probe cycle; after that much quiet it is forgotten
        # (the circuit closes), which only matters for a tool nobody has called in a long time.
        self._state_ttl_ms = self._open_ms + self._probe_ms + self._window_ms + int(idle_seconds * 1000)
        self._before = redis.register_script(_BEFORE)
        self._success = redis.register_script(_SUCCESS)
        self._failure = redis.register_script(_FAILURE)
        self._state = redis.register_script(_STATE)

    async def before_call(self, tenant_id: str, tool: str, *, probe_seconds: float | None = None) -> BreakerDecision:
        """May a call go through now? In half-open the caller that is allowed is the probe.

        `probe_seconds` overrides the probe lease for this call (the tool's own timeout, say).
        """
        state_key, _ = breaker_keys(tenant_id, tool)
        probe_ms = int(probe_seconds * 1000) if probe_seconds is not None else self._probe_ms
        reply = await self._before(keys=[state_key], args=[max(probe_ms, 1), self._state_ttl_ms])
        allowed, state, retry_ms, moved = int(reply[0]), _text(reply[1]), int(reply[2]), _text(reply[3])
        if moved:
            self._transitioned(tenant_id, tool, moved)
        if not allowed:
            REJECTIONS.labels(state=state).inc()
        return BreakerDecision(allowed=bool(allowed), state=state, retry_after_seconds=retry_ms / 1000)

    async def record_success(self, tenant_id: str, tool: str) -> None:
        moved = _text(await self._success(keys=list(breaker_keys(tenant_id, tool)), args=[]))
        if moved:
            self._transitioned(tenant_id, tool, moved)

    async def record_failure(self, tenant_id: str, tool: str) -> None:
        args: list[str | int] = [
            self.failure_threshold,
            self._window_ms,
            self._open_ms,
            self._state_ttl_ms,
            uuid.uuid4().hex,
        ]
        moved = _text(await self._failure(keys=list(breaker_keys(tenant_id, tool)), args=args))
        if moved:
            self._transitioned(tenant_id, tool, moved)

    async def state(self, tenant_id: str, tool: str) -> str:
        state_key, _ = breaker_keys(tenant_id, tool)
        return _text(await self._state(keys=[state_key], args=[]))

    async def states(self, tenant_id: str, tools: list[str]) -> dict[str, str]:
        """Each tool's state in one round trip (a pipeline of the same script `state` runs)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for tool in tools:
                await self._state(keys=[breaker_keys(tenant_id, tool)[0]], args=[], client=pipe)
            replies = await pipe.execute()
        return {tool: _text(reply) for tool, reply in zip(tools, replies, strict=True)}

    async def reset(self, tenant_id: str, tool: str) -> None:
        """Close the circuit and forget its failures (operators, tests)."""
        await self._redis.delete(*breaker_keys(tenant_id, tool))

    @staticmethod
    def _transitioned(tenant_id: str, tool: str, state: str) -> None:
        TRANSITIONS.labels(state=state).inc()
        log.info("circuit transition", tenant_id=tenant_id, tool=tool, state=state)
