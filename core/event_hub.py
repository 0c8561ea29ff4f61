"""One Redis subscription per process that tells every open stream of that process when its events arrive.

Without it, every open SSE or WebSocket stream held a Redis connection in `XREAD BLOCK` of its own: two
thousand idle streams were two thousand connections. Publishing an event also publishes a small notice on
the conversation's channel (`core.events`), and the hub, subscribed to all of them with one pattern on one
connection, wakes the streams of that conversation, which then read their new events with a quick,
non-blocking `XREAD` from their own cursor. Resume, ordering, slow-client policies and the riding out of
Redis failures stay where they were (`api.streaming.follow`): the hub only decides when to look.

A notice can be missed (the subscription reconnecting, a publisher of an older release that sends none): a
waiting stream then looks anyway when its wait ends, at the latest one keep-alive later, and the hub wakes
every stream each time it (re)subscribes, so what was published meanwhile is read at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("aiaas.events.hub")

NOTIFY_PREFIX = "aiaas:evnotify:"
_POLL_SECONDS = 5.0
_FIRST_RETRY_SECONDS = 0.1
_MAX_RETRY_SECONDS = 2.0


def notify_channel(tag: str) -> str:
    return f"{NOTIFY_PREFIX}{tag}"


class EventHub:
    def __init__(self, redis: Redis) -> None:
        # A client whose socket timeout outlasts `_POLL_SECONDS` of silence on the subscription.
        self._redis = redis
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        # How often the subscription was confirmed: the first time, and after every reconnection.
        self.subscriptions = 0
        self.notices = 0

    @property
    def watching(self) -> int:
        return sum(len(events) for events in self._waiters.values())

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-hub")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._wake_all()

    @contextlib.contextmanager
    def watch(self, channel: str) -> Iterator[asyncio.Event]:
        """An event set when `channel` gets a notice; taken before the reader looks, so none slips between."""
        woken = asyncio.Event()
        self._waiters.setdefault(channel, set()).add(woken)
        try:
            yield woken
        finally:
            waiting = self._waiters.get(channel)
            if waiting is not None:
                waiting.discard(woken)
                if not waiting:
                    del self._waiters[channel]

    def _wake(self, channel: str) -> None:
        for woken in self._waiters.get(channel, ()):
            woken.set()

    def _wake_all(self) -> None:
        for channel in list(self._waiters):
            self._wake(channel)

    async def _run(self) -> None:
        pause = _FIRST_RETRY_SECONDS
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(f"{NOTIFY_PREFIX}*")
                while True:
                    message = await pubsub.get_message(timeout=_POLL_SECONDS)
                    if message is None:
                        continue
                    if message.get("type") == "pmessage":
                        channel = message["channel"]
                        self.notices += 1
                        self._wake(channel.decode() if isinstance(channel, bytes) else str(channel))
                    elif message.get("type") == "psubscribe":
                        # Confirmed, the first time or after redis-py reconnected and resubscribed by itself:
                        # whatever was published while no subscription listened is read now.
                        self.subscriptions += 1
                        self.subscribed.set()
                        self._wake_all()
                        pause = _FIRST_RETRY_SECONDS
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("event hub subscription lost; resubscribing", error_type=type(exc).__name__)
                # The streams find out for themselves whether Redis is gone, and ride it out as before.
                self._wake_all()
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_RETRY_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
