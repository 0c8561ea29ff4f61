"""Chat clients for Locust: each creates a conversation, keeps its event stream open and sends turns.

A turn counts from the POST of a message to its `message.completed` on the stream, reported to Locust as a
request of type TURN, so its percentiles and failures sit beside the HTTP requests'. Run through
`python -m benchmarks load`, which starts the platform on loopback and compares against the baseline.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import gevent
from gevent.event import Event
from locust import HttpUser, between, task

API_KEY = os.environ.get("AIAAS_LOAD_API_KEY", "")
TURN_TIMEOUT_SECONDS = 30.0


class ChatUser(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {API_KEY}"
        created = self.client.post("/v1/conversations", json={}, name="/v1/conversations")
        self.conversation = created.json()["id"]
        # One event per message, made by whichever side sees the message first: a turn may complete on the
        # stream before its POST has returned.
        self.completions: dict[str, Event] = {}
        self.reader = gevent.spawn(self._follow)

    def on_stop(self) -> None:
        self.reader.kill(block=False)

    def _follow(self) -> None:
        url = f"/v1/conversations/{self.conversation}/events"
        name = "/v1/conversations/{id}/events"
        with self.client.get(url, stream=True, name=name, timeout=None, catch_response=True) as stream:
            stream.success()
            # Chunk by chunk as the gateway sends them: `iter_lines` would wait for 512 bytes at a time.
            pending = ""
            for chunk in stream.raw.read_chunked(decode_content=True):
                pending += chunk.decode()
                *lines, pending = pending.split("\n")
                for line in lines:
                    if line.startswith("data: ") and "message.completed" in line:
                        data: dict[str, Any] = json.loads(line[6:]).get("data", {})
                        # The completed message is the answer; `reply_to` is the message that was sent.
                        self._completion(str(data.get("reply_to"))).set()

    def _completion(self, message_id: str) -> Event:
        return self.completions.setdefault(message_id, Event())

    @task
    def turn(self) -> None:
        started = time.perf_counter()
        body = {"content": "hello", "client_message_id": uuid.uuid4().hex}
        posted = self.client.post(
            f"/v1/conversations/{self.conversation}/messages", json=body, name="/v1/conversations/{id}/messages"
        )
        exception: Exception | None = None
        if posted.status_code not in (200, 202):
            exception = RuntimeError(f"message refused: HTTP {posted.status_code}")
        else:
            message_id = str(posted.json()["message_id"])
            if not self._completion(message_id).wait(TURN_TIMEOUT_SECONDS):
                exception = TimeoutError(f"no message.completed within {TURN_TIMEOUT_SECONDS:.0f} s")
            self.completions.pop(message_id, None)
        self.environment.events.request.fire(
            request_type="TURN",
            name="turn",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=exception,
            context={},
        )
