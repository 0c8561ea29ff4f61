"""The conversation event stream: one Redis Stream per conversation.

Activities publish, the gateway's SSE and WebSocket endpoints read. Stream ids (`<ms>-<seq>`) are the
event ids clients see, so they increase monotonically and a client resumes exactly after the last id it
saw. Events that announce a durable fact (accepted, completed, failed) carry a dedup key: a retried or
replayed activity publishes them once.

Reading blocks on Redis (`XREAD BLOCK`), so it may use a client of its own (`reader`) whose socket timeout
leaves room for the block (`core.redis_clients.blocking_client`). Whatever client it is given, a read never
blocks longer than that client's socket timeout allows, so a quiet stream cannot look like a dead Redis.
With a hub (`core.event_hub`, the gateway's), a read does not block on Redis at all: it reads at once and,
finding nothing, waits for the hub's notice that the conversation has new events.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from contracts.events import EventType
from core.event_hub import EventHub, notify_channel
from core.redis_clients import socket_timeout_of

# Publishing and deduplicating happen in one atomic step; both keys share a hash tag (cluster-safe).
_PUBLISH = """
if ARGV[5] ~= '' then
  local prior = redis.call('GET', KEYS[2])
  if prior then return prior end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[3], 'data', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], id, 'EX', ARGV[2]) end
redis.call('PUBLISH', ARGV[6], id)
return id
"""

STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
# Of a reader's socket timeout, what a blocked read leaves for its reply to arrive once the block ends.
_REPLY_ALLOWANCE = 0.2
_MAX_REPLY_ALLOWANCE_SECONDS = 2.0
_WOKEN_READS = 32


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    data: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "type": self.type, "data": self.data}, separators=(",", ":"))


def _tag(tenant_id: str, conversation_id: str) -> str:
    return f"{{{tenant_id}:{conversation_id}}}"


def stream_key(tenant_id: str, conversation_id: str) -> str:
    return f"aiaas:events:{_tag(tenant_id, conversation_id)}"


def is_stream_id(value: str) -> bool:
    return bool(STREAM_ID.match(value))


class EventRedactor(Protocol):
    """What an event's data may hold in the stream, decided per tenant before it is published
    (`policies.event_privacy`)."""

    async def __call__(self, tenant_id: str, event_type: EventType, data: dict[str, Any]) -> dict[str, Any]: ...


class EventBus:
    def __init__(
        self,
        redis: Redis,
        *,
        reader: Redis | None = None,
        maxlen: int = 10_000,
        ttl_seconds: int = 7 * 24 * 3600,
        hub: EventHub | None = None,
        redactor: EventRedactor | None = None,
    ) -> None:
        self._redis = redis
        self._redactor = redactor
        self._hub = hub
        # Woken streams read through the command client's pool, which has a fixed size shared with every other
        # command of the process: a burst of thousands of streams waking at once takes turns.
        self._woken_reads = asyncio.Semaphore(_WOKEN_READS)
        self._reader = reader or redis
        self._maxlen = maxlen
        self._ttl = ttl_seconds
        self._publish = redis.register_script(_PUBLISH)
        self.max_block_ms = _max_block_ms(socket_timeout_of(self._reader))

    async def publish(
        self,
        tenant_id: str,
        conversation_id: str,
        event_type: EventType,
        data: dict[str, Any],
        *,
        dedup_key: str | None = None,
    ) -> str:
        if self._redactor is not None:
            data = await self._redactor(tenant_id, event_type, data)
        tag = _tag(tenant_id, conversation_id)
        keys = [stream_key(tenant_id, conversation_id), f"aiaas:evdedup:{tag}:{dedup_key or ''}"]
        args: list[str | int] = [
            self._maxlen,
            self._ttl,
            str(event_type),
            json.dumps(data, separators=(",", ":")),
            dedup_key or "",
            notify_channel(tag),
        ]
        event_id = await self._publish(keys=keys, args=args)
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    async def read(
        self,
        tenant_id: str,
        conversation_id: str,
        after: str,
        *,
        block_ms: int | None = None,
        count: int = 100,
    ) -> list[Event]:
        """Events after `after` ("0-0" for all retained); waits up to `block_ms` when there are none.

        The wait is cut to `max_block_ms` (0, which Redis reads as "forever", too): an empty answer then only
        means nothing came yet.
        """
        key = stream_key(tenant_id, conversation_id)
        if self._hub is not None and block_ms is not None:
            return await self._read_woken(self._hub, tenant_id, conversation_id, after, block_ms, count)
        if block_ms is not None and self.max_block_ms is not None:
            block_ms = min(block_ms, self.max_block_ms) if block_ms > 0 else self.max_block_ms
        reply: Any = await self._reader.xread({key: after}, count=count, block=block_ms)
        return _entries(reply)

    async def _read_woken(
        self, hub: EventHub, tenant_id: str, conversation_id: str, after: str, block_ms: int, count: int
    ) -> list[Event]:
        key = stream_key(tenant_id, conversation_id)
        with hub.watch(notify_channel(_tag(tenant_id, conversation_id))) as woken:
            events = await self._read_now(key, after, count)
            if events:
                return events
            try:
                # 0 means "forever" to Redis; here it means until the next notice.
                await asyncio.wait_for(woken.wait(), block_ms / 1000 if block_ms > 0 else None)
            except TimeoutError:
                return []
        return await self._read_now(key, after, count)

    async def _read_now(self, key: str, after: str, count: int) -> list[Event]:
        async with self._woken_reads:
            return _entries(await self._redis.xread({key: after}, count=count))

    async def history(self, tenant_id: str, conversation_id: str, count: int = 1000) -> list[Event]:
        entries: Any = await self._redis.xrange(stream_key(tenant_id, conversation_id), count=count)
        return [_decode(raw_id, fields) for raw_id, fields in entries]

    async def last_id(self, tenant_id: str, conversation_id: str) -> str:
        """The id of the stream's newest event ("0-0" for an empty stream): a cursor that reads only what
        comes after now, taken before a page reads the state the events will then update."""
        newest: Any = await self._redis.xrevrange(stream_key(tenant_id, conversation_id), count=1)
        return _text(newest[0][0]) if newest else "0-0"

    async def purge(self, tenant_id: str, conversation_id: str) -> None:
        await self._redis.delete(stream_key(tenant_id, conversation_id))


def _max_block_ms(socket_timeout: float | None) -> int | None:
    if socket_timeout is None:
        return None
    allowance = min(socket_timeout * _REPLY_ALLOWANCE, _MAX_REPLY_ALLOWANCE_SECONDS)
    return max(1, int((socket_timeout - allowance) * 1000))


def _entries(reply: Any) -> list[Event]:
    return [_decode(raw_id, fields) for _stream, entries in reply or [] for raw_id, fields in entries]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(raw_id: Any, fields: dict[Any, Any]) -> Event:
    decoded = {_text(k): _text(v) for k, v in fields.items()}
    return Event(id=_text(raw_id), type=decoded.get("type", ""), data=json.loads(decoded.get("data", "{}")))
