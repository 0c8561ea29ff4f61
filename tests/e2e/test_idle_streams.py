"""Idle event streams stay open, at the keep-alive interval users get.

An SSE stream and a WebSocket with nothing to deliver for over a minute (far past redis-py's 5 s socket
timeout, across four keep-alive intervals), both in the same quiet minute, get keep-alives all along, and
then still deliver the event published after the quiet spell. The platform's gateway runs with the default
keep-alive; nothing here shortens it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from core.settings import Settings
from tests.e2e.platform import Platform
from tests.e2e.ws import open_ws

KEEPALIVE_SECONDS = Settings.model_fields["sse_keepalive_seconds"].default
# Past a minute, four keep-alive intervals; the keep-alives are checked up to the end of the quiet spell.
IDLE_SECONDS = 62.0
# A keep-alive may come a little late (a read ends, the next frame is written), never a whole interval late.
KEEPALIVE_SLACK_SECONDS = 3.0


@dataclass
class Watch:
    """What one stream showed, with the monotonic time of each thing."""

    opened_at: float | None = None
    keepalives: list[float] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    error: BaseException | None = None
    completed: threading.Event = field(default_factory=threading.Event)


def _watch_sse(base_url: str, conversation_id: str, key: str, watch: Watch) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client,
        client.stream("GET", f"/v1/conversations/{conversation_id}/events") as response,
    ):
        assert response.status_code == 200, response.read()
        watch.opened_at = time.monotonic()
        for line in response.iter_lines():
            if line == ": keep-alive":
                watch.keepalives.append(time.monotonic())
            elif line.startswith("event: "):
                watch.events.append((time.monotonic(), line.removeprefix("event: ")))
                if line == "event: message.completed":
                    watch.completed.set()
                    return
    raise AssertionError("the SSE stream ended before the event came")


def _watch_ws(base_url: str, conversation_id: str, key: str, watch: Watch) -> None:
    with open_ws(base_url, conversation_id, f"Bearer {key}") as ws:
        watch.opened_at = time.monotonic()
        while True:
            # Silence longer than this would fail the test anyway: a keep-alive is due every interval.
            message = json.loads(ws.recv(timeout=KEEPALIVE_SECONDS * 2))
            if message["type"] == "keep-alive":
                watch.keepalives.append(time.monotonic())
                continue
            watch.events.append((time.monotonic(), message["type"]))
            if message["type"] == "message.completed":
                watch.completed.set()
                return


def _run(target: Callable[[str, str, str, Watch], None], args: tuple[str, str, str], watch: Watch) -> threading.Thread:
    def guarded() -> None:
        try:
            target(*args, watch)
        except BaseException as exc:
            watch.error = exc
            watch.completed.set()

    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    return thread


def _check(name: str, watch: Watch, published_at: float) -> float:
    assert watch.error is None, f"{name}: {watch.error!r}"
    assert watch.opened_at is not None
    idle = published_at - watch.opened_at
    assert idle >= IDLE_SECONDS, f"{name} was idle only {idle:.1f} s"
    quiet = [t for t in watch.keepalives if t < published_at]
    assert len(quiet) >= int(IDLE_SECONDS // KEEPALIVE_SECONDS) - 1, f"{name}: {len(quiet)} keep-alives"
    gaps = [later - earlier for earlier, later in zip([watch.opened_at, *quiet], quiet, strict=False)]
    assert max(gaps) <= KEEPALIVE_SECONDS + KEEPALIVE_SLACK_SECONDS, f"{name}: keep-alive gaps {gaps}"
    assert min(gaps) >= KEEPALIVE_SECONDS - KEEPALIVE_SLACK_SECONDS, f"{name}: keep-alive gaps {gaps}"
    # All along: no silence longer than an interval between the last keep-alive and the end of the quiet spell.
    tail = published_at - quiet[-1]
    assert tail <= KEEPALIVE_SECONDS + KEEPALIVE_SLACK_SECONDS, f"{name}: {tail:.1f} s quiet after the last keep-alive"
    assert [kind for at, kind in watch.events if at < published_at] == [], f"{name} was not idle"
    assert watch.events[-1][1] == "message.completed", f"{name}: {watch.events}"
    return idle


@pytest.mark.slow
def test_idle_sse_and_websocket_stay_open_past_a_minute_and_deliver_the_next_event(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str]
) -> None:
    assert "AIAAS_SSE_KEEPALIVE_SECONDS" not in platform.env, "the gateway must run with the default keep-alive"
    conversation_id = api.post("/v1/conversations", json={}).json()["id"]
    args = (platform.base_url, conversation_id, tenant_a[1])
    sse, ws = Watch(), Watch()
    threads = [_run(_watch_sse, args, sse), _run(_watch_ws, args, ws)]
    deadline = time.monotonic() + 15
    while (sse.opened_at is None or ws.opened_at is None) and time.monotonic() < deadline:
        assert sse.error is None and ws.error is None, (sse.error, ws.error)
        time.sleep(0.05)
    assert sse.opened_at is not None and ws.opened_at is not None

    time.sleep(IDLE_SECONDS)
    published_at = time.monotonic()
    posted = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": "after a long quiet"})
    assert posted.status_code == 202, posted.text
    for watch in (sse, ws):
        assert watch.completed.wait(60), "no event reached the stream after the quiet spell"
    for thread in threads:
        thread.join(10)

    idle_sse, idle_ws = _check("SSE", sse, published_at), _check("WebSocket", ws, published_at)
    print(
        f"idle SSE {idle_sse:.1f} s with {len(sse.keepalives)} keep-alives; "
        f"idle WebSocket {idle_ws:.1f} s with {len(ws.keepalives)} keep-alives"
    )
