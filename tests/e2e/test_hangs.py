"""Hangs: one part of the platform frozen (SIGSTOP) past every timeout on a message's path, then resumed.

A crash closes connections and gets noticed; a hang keeps them open and answers nothing, which takes other
paths. A workflow task handed to a frozen worker times out on the server while the worker still holds it,
and runs anyway once the worker wakes; the engine refuses updates while the task keeps failing; a frozen
gateway finds its requests' clients gone. Each case freezes one part (the worker, the gateway, Temporal,
Postgres, Redis) while a turn is under way (for the worker, just after one) and a second message is sent,
and checks what a client sees: each message, retried with its `client_message_id` until accepted, answered
exactly once; the conversation readable throughout; never a 500, and never a refusal where the truth is
"not yet".

They run on a stack of their own, so freezing Temporal, Postgres or Redis leaves the session's stack alone.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.stack.process import ManagedProcess
from tests.conftest import start_on_free_ports
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform, apply_migrations, pick_port, platform_env
from tests.e2e.sse import completed_for, events_of, read_frames

# How long each part stays frozen: past the gateway's 15 s to confirm a message, the 15 s of an attempt at a
# persistence activity, and the 5 s of a state query and of a Redis call. A worker longer still: past the
# engine's 20 s long poll on an update and two 10 s workflow task timeouts, after which it refuses the update
# while the frozen worker still holds the tasks that carry it.
FREEZE_SECONDS = {"worker": 35.0, "gateway": 17.0, "temporal": 17.0, "postgres": 17.0, "redis": 17.0}
CLIENT_TIMEOUT = 30.0

Outcome = tuple[int, str] | str  # (status, error code) or "timeout"


@dataclass
class Hanging:
    platform: Platform
    parts: dict[str, ManagedProcess]
    api_key: str

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        with httpx.Client(base_url=self.platform.base_url, headers=headers, timeout=CLIENT_TIMEOUT) as client:
            yield client


@contextmanager
def frozen(process: ManagedProcess) -> Iterator[None]:
    """The process and its children stopped, as a long GC pause, CPU starvation or a network partition would
    leave them: alive, holding their connections, answering nothing. Let go however the block ends."""
    assert process.pid is not None
    os.killpg(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def hanging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hanging]:
    stack = start_on_free_ports(tmp_path_factory.mktemp("hang-stack"))
    try:
        assert stack.endpoints is not None
        data_dir: Path = tmp_path_factory.mktemp("hang-platform")
        settings = stack.settings.model_copy(
            update={
                "temporal_address": stack.endpoints.temporal_address,
                "database_url": stack.endpoints.database_url,
                "redis_url": stack.endpoints.redis_url,
                "task_queue": f"hangs-{uuid.uuid4().hex[:8]}",
                "data_dir": data_dir,
            }
        )
        apply_migrations(settings)
        platform = Platform(settings, data_dir, platform_env(settings, data_dir), pick_port())
        platform.start()
        try:
            _tenant, key = create_test_tenant(settings, "Hangs")
            parts = {"worker": platform.worker, "gateway": platform.gateway}
            parts.update({process.name: process for process in stack.processes})
            yield Hanging(platform, parts, key)
        finally:
            platform.stop()
    finally:
        stack.stop()


def _post(api: httpx.Client, conversation_id: str, content: str, client_message_id: str) -> httpx.Response:
    body = {"content": content, "client_message_id": client_message_id}
    return api.post(f"/v1/conversations/{conversation_id}/messages", json=body)


def _attempt(hanging: Hanging, conversation_id: str, content: str, client_message_id: str) -> httpx.Response | str:
    with hanging.client() as api:
        try:
            return _post(api, conversation_id, content, client_message_id)
        except httpx.TimeoutException:
            return "timeout"


def _read(hanging: Hanging, conversation_id: str) -> httpx.Response | str:
    with hanging.client() as api:
        try:
            return api.get(f"/v1/conversations/{conversation_id}")
        except httpx.TimeoutException:
            return "timeout"


def _outcome(result: httpx.Response | str) -> Outcome:
    if isinstance(result, str):
        return result
    if result.status_code < 400:
        return (result.status_code, "")
    error = result.json()["error"]
    if result.status_code == 503:
        # "Not yet" says when to come back and that the same id is safe to send again.
        assert int(result.headers["Retry-After"]) > 0 and "client_message_id" in error["message"], result.text
    return (result.status_code, error["code"])


def _send_until_accepted(
    hanging: Hanging, conversation_id: str, content: str, client_message_id: str, outcomes: list[Outcome]
) -> dict[str, Any]:
    """What a well-behaved client does: the same message, with the same id, until it is accepted."""
    deadline = time.monotonic() + 90
    while True:
        result = _attempt(hanging, conversation_id, content, client_message_id)
        outcomes.append(_outcome(result))
        if isinstance(result, httpx.Response) and result.status_code == 202:
            return dict(result.json())
        assert time.monotonic() < deadline, f"never accepted: {outcomes}"
        time.sleep(1.0)


def _settled(api: httpx.Client, conversation_id: str) -> dict[str, Any]:
    """The conversation once its run answers again and has nothing left to do."""
    deadline = time.monotonic() + 60
    while True:
        detail = dict(api.get(f"/v1/conversations/{conversation_id}").json())
        if detail.get("run_answered", True) and detail["status"] == "idle" and not detail["pending_message_ids"]:
            return detail
        assert time.monotonic() < deadline, f"the run did not settle: {detail}"
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.parametrize("part", list(FREEZE_SECONDS))
def test_a_frozen_part_loses_no_message_and_answers_none_twice(hanging: Hanging, part: str) -> None:
    with hanging.client() as api:
        conversation_id = api.post("/v1/conversations", json={"agent": "slowpoke"}).json()["id"]
        under_way = _post(api, conversation_id, "one two three four", "before")
        assert under_way.status_code == 202, under_way.text
        # A turn under way when the part freezes; for a frozen worker, one just answered. A state query that
        # reaches a frozen worker is answered, once it wakes, from a task carrying stale history, and the
        # SDK (temporalio 1.35) can then drop an activity's result that history holds, stranding a turn under
        # way for good. That the read itself is answered honestly is checked below all the same.
        sign = "message.completed" if part == "worker" else "token"
        read_frames(api, conversation_id, lambda frames: any(f.event == sign for f in frames))

        outcomes: list[Outcome] = []
        with ThreadPoolExecutor(2) as pool:
            with frozen(hanging.parts[part]):
                started = time.monotonic()
                sending = pool.submit(_attempt, hanging, conversation_id, "sent during the hang", "during")
                reading = pool.submit(_read, hanging, conversation_id)
                time.sleep(max(0.0, FREEZE_SECONDS[part] - (time.monotonic() - started)))
            outcomes.append(_outcome(sending.result()))
            read_during = reading.result()
        # Resumed: the client retries until accepted, at least once after the hang whatever it saw during it.
        accepted = _send_until_accepted(hanging, conversation_id, "sent during the hang", "during", outcomes)
        ids = [under_way.json()["message_id"], accepted["message_id"]]

        # The stream's keep-alives keep its read timeout from ever ending the wait: the deadline is ours.
        deadline = time.monotonic() + 120
        frames = events_of(
            read_frames(
                api,
                conversation_id,
                lambda fs: all(completed_for(m)(fs) for m in ids) or time.monotonic() > deadline,
                include_comments=True,
            )
        )
        for message_id in ids:
            assert [f.event for f in frames if (f.data or {}).get("reply_to") == message_id] == ["message.completed"]
            assert not [f for f in frames if f.event == "turn.failed" and f.data["message_id"] == message_id]  # type: ignore[index]
        # The run's own count: a message queued twice is answered twice, however the writes deduplicate.
        detail = _settled(api, conversation_id)
        assert detail["turns_completed"] == 2
        assert [m["id"] for m in detail["messages"] if m["role"] == "user"] == ids
        assert [m["reply_to"] for m in detail["messages"] if m["role"] == "assistant"] == ids

    # Honest answers throughout: "not yet" is a 503 that says to retry with the same id, never a 4xx or a 500.
    for outcome in outcomes:
        assert outcome == "timeout" or outcome in ((202, ""), (503, "not_confirmed")), outcomes
    if outcomes[0] != (202, ""):
        assert outcomes[-1] == (202, "")
    else:
        assert accepted["duplicate"] is True
    assert isinstance(read_during, str) or read_during.status_code == 200, read_during.text
    if part in ("worker", "temporal"):
        assert isinstance(read_during, httpx.Response)
        body = read_during.json()
        assert (body["status"], body["run_answered"]) == ("unknown", False)
        assert [m["id"] for m in body["messages"] if m["role"] == "user"] == ids[:1]
