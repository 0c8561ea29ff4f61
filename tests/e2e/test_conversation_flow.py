"""A conversation end to end: create, post, stream, read back; idempotency and double texting."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.e2e.platform import Platform
from tests.e2e.sse import completed_for, events_of, read_frames


def _create(api: httpx.Client, **body: object) -> str:
    response = api.post("/v1/conversations", json={"agent": "support", "channel": "web", **body})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _post(api: httpx.Client, conversation_id: str, content: str, **extra: object) -> httpx.Response:
    return api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": content, **extra})


def test_create_conversation_returns_its_fields(api: httpx.Client) -> None:
    response = api.post("/v1/conversations", json={"agent": "orders", "channel": "email", "metadata": {"k": 1}})
    assert response.status_code == 201
    body = response.json()
    uuid.UUID(body["id"])
    assert body["agent"] == "orders" and body["channel"] == "email" and body["metadata"] == {"k": 1}
    assert body["created_at"]


def test_turn_streams_tokens_and_completes(api: httpx.Client) -> None:
    conversation_id = _create(api)
    response = _post(api, conversation_id, "where is my parcel")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["events_url"] == f"/v1/conversations/{conversation_id}/events"
    message_id = accepted["message_id"]

    # Connect after posting: the stream replays what was retained, so nothing is missed.
    frames = events_of(read_frames(api, conversation_id, completed_for(message_id)))
    types = [f.event for f in frames]
    assert types[0] == "message.accepted" and frames[0].data == {"message_id": message_id, "client_message_id": None}
    assert types.index("turn.started") < types.index("token") < types.index("message.completed")
    tokens = "".join(f.data["delta"] for f in frames if f.event == "token")  # type: ignore[index]
    completed = next(f for f in frames if f.event == "message.completed")
    assert completed.data["reply_to"] == message_id  # type: ignore[index]
    assert completed.data["content"] == tokens == "echo: where is my parcel"  # type: ignore[index]
    assert sum(1 for t in types if t == "token") >= 2
    ids = [f.id for f in frames]
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))  # type: ignore[union-attr]

    detail = api.get(f"/v1/conversations/{conversation_id}").json()
    roles = [(m["role"], m["content"]) for m in detail["messages"]]
    assert roles == [("user", "where is my parcel"), ("assistant", "echo: where is my parcel")]
    assert detail["messages"][1]["id"] == completed.data["message_id"]  # type: ignore[index]
    assert detail["turns_completed"] == 1


def test_same_client_message_id_is_one_message(api: httpx.Client) -> None:
    conversation_id = _create(api)
    first = _post(api, conversation_id, "hello", client_message_id="client-1")
    second = _post(api, conversation_id, "hello", client_message_id="client-1")
    assert first.status_code == second.status_code == 202
    assert first.json()["message_id"] == second.json()["message_id"]
    assert second.json()["duplicate"] is True
    read_frames(api, conversation_id, completed_for(first.json()["message_id"]))
    third = _post(api, conversation_id, "hello", client_message_id="client-1")
    assert third.json() == second.json()
    detail = api.get(f"/v1/conversations/{conversation_id}").json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]


def test_enqueue_answers_in_order(api: httpx.Client) -> None:
    conversation_id = _create(api, agent="slowpoke")
    ids = [_post(api, conversation_id, f"message {i}").json()["message_id"] for i in range(3)]
    frames = events_of(read_frames(api, conversation_id, completed_for(ids[-1]), timeout=60))
    completed = [f.data["reply_to"] for f in frames if f.event == "message.completed"]  # type: ignore[index]
    assert completed == ids
    detail = api.get(f"/v1/conversations/{conversation_id}").json()
    assert [m["content"] for m in detail["messages"] if m["role"] == "assistant"] == [
        f"echo: message {i}" for i in range(3)
    ]


def test_reject_policy_refuses_a_message_during_a_turn(api: httpx.Client) -> None:
    conversation_id = _create(api, agent="slowpoke", double_texting="reject")
    first = _post(api, conversation_id, "one two three four five six")
    assert first.status_code == 202
    second = _post(api, conversation_id, "me again")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conversation_busy"
    read_frames(api, conversation_id, completed_for(first.json()["message_id"]), timeout=60)
    third = _post(api, conversation_id, "after the turn")
    assert third.status_code == 202


def test_interrupt_policy_cuts_the_running_turn(api: httpx.Client) -> None:
    conversation_id = _create(api, agent="slowpoke", double_texting="interrupt")
    # About 40 s of slow streaming: the first answer is still being written when the second message lands,
    # on a busy machine too, and a turn the interrupt failed to cut would hold the second one back for long.
    question = "a long question " + " ".join(f"word{i}" for i in range(160))
    first = _post(api, conversation_id, question).json()["message_id"]
    read_frames(api, conversation_id, lambda fs: any(f.event == "token" for f in fs))
    second = _post(api, conversation_id, "never mind").json()["message_id"]
    frames = events_of(read_frames(api, conversation_id, completed_for(second), timeout=60))
    failed = [f.data for f in frames if f.event == "turn.failed"]
    seen = [(f.event, f.data) for f in frames if f.event != "token"]
    assert failed and failed[0]["message_id"] == first, "\n".join(map(str, seen))  # type: ignore[index]
    assert failed[0]["error_type"] == "Interrupted"  # type: ignore[index]
    completed = [f.data["reply_to"] for f in frames if f.event == "message.completed"]  # type: ignore[index]
    assert completed == [second]


def test_non_retryable_model_error_fails_the_turn_not_the_conversation(api: httpx.Client) -> None:
    conversation_id = _create(api, agent="broken")
    message_id = _post(api, conversation_id, "hi").json()["message_id"]
    frames = events_of(read_frames(api, conversation_id, completed_for(message_id)))
    failed = next(f.data for f in frames if f.event == "turn.failed")
    assert failed["error_type"] == "ModelBadRequest"  # type: ignore[index]
    # The conversation still takes messages.
    assert _post(api, conversation_id, "still there?").status_code == 202


def test_retryable_model_error_is_retried_by_temporal(api: httpx.Client) -> None:
    conversation_id = _create(api, agent="flaky")
    message_id = _post(api, conversation_id, "try again").json()["message_id"]
    started = time.monotonic()
    frames = events_of(read_frames(api, conversation_id, completed_for(message_id), timeout=60))
    attempts = [f.data["attempt"] for f in frames if f.event == "turn.started"]  # type: ignore[index]
    assert attempts == [1, 2]
    assert any(f.event == "message.completed" for f in frames)
    # The provider's Retry-After (1 s) set the delay before the second attempt.
    assert time.monotonic() - started >= 1.0


def test_the_worker_and_the_gateway_count_the_turn_under_its_tenant(
    api: httpx.Client, platform: Platform, tenant_a: tuple[str, str]
) -> None:
    tenant = tenant_a[0]
    conversation_id = _create(api)
    message_id = _post(api, conversation_id, "count me").json()["message_id"]
    events_of(read_frames(api, conversation_id, completed_for(message_id)))

    worker = _samples(httpx.get(f"http://127.0.0.1:{platform.worker_metrics_port}/metrics", timeout=5.0).text)
    assert worker[("aiaas_turns_finished_total", f'outcome="completed",tenant="{tenant}"')] >= 1
    gateway = _samples(api.get("/metrics").text)
    assert gateway[("admission_decisions_total", f'decision="admitted",reason="ok",tenant="{tenant}"')] >= 1


def _samples(exposition: str) -> dict[tuple[str, str], float]:
    """(name, labels as written) -> value, from Prometheus' text format."""
    found: dict[tuple[str, str], float] = {}
    for line in exposition.splitlines():
        if line.startswith("#") or "{" not in line:
            continue
        name, _, rest = line.partition("{")
        labels, _, value = rest.rpartition("} ")
        found[(name, labels)] = float(value)
    return found
