"""A small SSE reader for tests: parses frames off a live stream until a condition holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Frame:
    id: str | None
    event: str | None
    data: dict[str, Any] | None
    comment: str | None = None


def read_frames(
    client: httpx.Client,
    conversation_id: str,
    until: Callable[[list[Frame]], bool],
    *,
    last_event_id: str | None = None,
    timeout: float = 30.0,
    include_comments: bool = False,
    params: dict[str, str] | None = None,
) -> list[Frame]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    frames: list[Frame] = []
    with client.stream(
        "GET", f"/v1/conversations/{conversation_id}/events", headers=headers, params=params, timeout=timeout
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                if include_comments:
                    frames.append(Frame(None, None, None, comment=line[1:].strip()))
                    if until(frames):
                        return frames
                continue
            if line == "":
                if "data" in current:
                    frames.append(Frame(current.get("id"), current.get("event"), json.loads(current["data"])["data"]))
                    if until(frames):
                        return frames
                current = {}
                continue
            key, _, value = line.partition(":")
            current[key] = value.lstrip(" ")
    return frames


def events_of(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.event is not None]


def completed_for(message_id: str) -> Callable[[list[Frame]], bool]:
    return lambda frames: any(
        f.event in ("message.completed", "turn.failed")
        and (f.data or {}).get("reply_to", (f.data or {}).get("message_id")) == message_id
        for f in frames
    )
