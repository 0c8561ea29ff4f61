"""The Redis clients every process builds, with timeouts taken from the settings.

redis-py applies its socket timeout (5 s unless told otherwise) to every reply, the reply of a blocking
command included: `XREAD BLOCK 15000` on a default client fails with `TimeoutError` after five seconds of
silence. So a process gets two clients. Commands go through one whose timeout is short, so a dead Redis
shows within `redis_socket_timeout_seconds`. Blocking reads go through another whose timeout is the longest
block any caller asks for plus that same allowance for the reply, so a quiet stream never trips it and a
dead Redis is still noticed, one block later.

Each client's pool is bounded (`redis_max_connections`) and blocking: redis-py's own pool refuses the 101st
concurrent command with `MaxConnectionsError`, which a burst of requests on one gateway reached; here such a
command waits for a free connection for as long as a reply may take, and only then fails like an unreachable
Redis (a `RedisError`, which the fail-open paths already handle).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from core.settings import Settings

# What redis-py uses when a client names no socket timeout.
REDIS_PY_DEFAULT_SOCKET_TIMEOUT = 5.0


def longest_block_seconds(settings: Settings) -> float:
    """The longest a blocking read waits: an event stream blocks until its next keep-alive is due."""
    return settings.sse_keepalive_seconds


def blocking_socket_timeout(settings: Settings) -> float:
    return longest_block_seconds(settings) + settings.redis_socket_timeout_seconds


def _client(settings: Settings, socket_timeout: float) -> Redis:
    options: dict[str, Any] = {
        "decode_responses": False,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": settings.redis_connect_timeout_seconds,
        # A connection through a firewall or NAT that dropped it silently is found by the kernel as well.
        "socket_keepalive": True,
    }
    pool = BlockingConnectionPool.from_url(
        settings.redis_url or "",
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_socket_timeout_seconds,
        **options,
    )
    return Redis.from_pool(pool)


def command_client(settings: Settings) -> Redis:
    """For commands that answer at once (everything but blocking reads)."""
    return _client(settings, settings.redis_socket_timeout_seconds)


def blocking_client(settings: Settings) -> Redis:
    """For blocking reads, which wait up to `longest_block_seconds` for their reply by design."""
    return _client(settings, blocking_socket_timeout(settings))


def socket_timeout_of(redis: Redis) -> float | None:
    """The socket timeout `redis` applies to a reply; None when it waits forever."""
    options = redis.connection_pool.connection_kwargs
    if "socket_timeout" not in options:
        return REDIS_PY_DEFAULT_SOCKET_TIMEOUT
    timeout = options["socket_timeout"]
    return None if timeout is None else float(timeout)
