"""What the re-embed tests share: waiting for a status, and a re-embed's events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from redis.asyncio import Redis

from contracts.knowledge import KNOWLEDGE_STREAM
from core.events import EventBus
from core.settings import Settings


def wait_status(api: httpx.Client, url: str, done: set[str], timeout: float = 120.0) -> dict[str, Any]:
    """The body of `url` once its `status` is one of `done`."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = api.get(url).json()
        if body.get("status") in done:
            return body
        time.sleep(0.3)
    raise AssertionError(f"{url} did not settle: {body}")


def reembed_events(settings: Settings, tenant_id: str, reembed_id: str) -> list[str]:
    """The types of the events the knowledge stream holds for one re-embed, oldest first."""

    async def history() -> list[str]:
        redis = Redis.from_url(settings.redis_url or "")
        try:
            found = await EventBus(redis).history(tenant_id, KNOWLEDGE_STREAM)
        finally:
            await redis.aclose()
        return [e.type for e in found if e.data.get("reembed_id") == reembed_id]

    return asyncio.run(history())
