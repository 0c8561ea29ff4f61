"""Bad input gets a clear 4xx with a machine-readable body; another tenant's ids answer 404."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.platform import Platform
from tests.e2e.sse import completed_for, read_frames
from tests.e2e.ws import platform_url, ws_close_code


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"code", "message", "details"}
    assert "Traceback" not in response.text
    if code:
        assert body["code"] == code
    return body


@pytest.fixture
def conversation(api: httpx.Client) -> str:
    return str(api.post("/v1/conversations", json={}).json()["id"])


def test_missing_and_wrong_credentials(platform: Platform, conversation: str) -> None:
    with httpx.Client(base_url=platform.base_url) as anonymous:
        response = anonymous.post("/v1/conversations", json={})
        _error(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")
        for header in ("Bearer ak_notakey", "Basic dXNlcjpwdw==", "Bearer", "ak_x", "Bearer " + "a" * 600):
            _error(anonymous.get(f"/v1/conversations/{conversation}", headers={"Authorization": header}), 401)


def test_malformed_json_is_400(api: httpx.Client, conversation: str) -> None:
    response = api.post(
        f"/v1/conversations/{conversation}/messages",
        content=b'{"content": "hi"',
        headers={"Content-Type": "application/json"},
    )
    _error(response, 400, "malformed_json")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"content": ""},
        {"content": 5},
        {"content": "hi", "unexpected": True},
        {"content": "hi", "client_message_id": ""},
        {"content": "hi", "client_message_id": "has space"},
        {"content": "hi", "client_message_id": "x" * 200},
    ],
)
def test_invalid_message_bodies_are_422(api: httpx.Client, conversation: str, body: dict) -> None:
    _error(api.post(f"/v1/conversations/{conversation}/messages", json=body), 422, "invalid_request")


def test_blank_oversized_and_control_character_messages(api: httpx.Client, conversation: str) -> None:
    url = f"/v1/conversations/{conversation}/messages"
    _error(api.post(url, json={"content": "   "}), 422, "message_empty")
    details = _error(api.post(url, json={"content": "x" * 8001}), 422, "message_too_long")["details"]
    assert details == {"max_chars": 8000, "chars": 8001}
    # Rejected by the workflow's update validator, before it enters history.
    _error(api.post(url, json={"content": "bell\x07"}), 422, "message_rejected")
    assert api.get(f"/v1/conversations/{conversation}").json()["messages"] == []


def test_invalid_conversation_bodies(api: httpx.Client) -> None:
    for body in (
        {"agent": "../etc"},
        {"channel": ""},
        {"metadata": {"blob": "x" * 20_000}},
        {"metadata": {"nul": "a\x00b"}},
        {"metadata": {"a\x00": 1}},
        {"double_texting": "sometimes"},
        {"extra": 1},
    ):
        _error(api.post("/v1/conversations", json=body), 422, "invalid_request")


def test_unknown_and_malformed_conversation_ids(api: httpx.Client) -> None:
    unknown = uuid.uuid4()
    _error(api.get(f"/v1/conversations/{unknown}"), 404, "conversation_not_found")
    _error(api.post(f"/v1/conversations/{unknown}/messages", json={"content": "hi"}), 404)
    _error(api.get(f"/v1/conversations/{unknown}/events"), 404)
    _error(api.get("/v1/conversations/not-a-uuid"), 422, "invalid_request")
    _error(api.get("/v1/conversations/1%27%20OR%20%271%27=%271"), 422)


def test_bad_last_event_id_is_400(api: httpx.Client, conversation: str) -> None:
    response = api.get(f"/v1/conversations/{conversation}/events", headers={"Last-Event-ID": "drop table"})
    _error(response, 400, "invalid_event_id")


def test_oversized_body_is_413(api: httpx.Client, conversation: str) -> None:
    response = api.post(
        f"/v1/conversations/{conversation}/messages",
        content=b'{"content": "' + b"x" * 1_100_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    _error(response, 413, "payload_too_large")


def test_oversized_chunked_body_is_413_and_stores_nothing(api: httpx.Client, conversation: str) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"content": "'
        for _ in range(20):
            yield b"x" * 65_536
        yield b'"}'

    response = api.post(
        f"/v1/conversations/{conversation}/messages", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _error(response, 413, "payload_too_large")
    assert api.get(f"/v1/conversations/{conversation}").json()["messages"] == []


def test_other_tenants_conversation_is_not_found(api: httpx.Client, api_b: httpx.Client) -> None:
    conversation = api.post("/v1/conversations", json={"agent": "support"}).json()["id"]
    message = api.post(
        f"/v1/conversations/{conversation}/messages", json={"content": "secret order 42", "client_message_id": "a-1"}
    )
    assert message.status_code == 202
    # Answered, so A's repeat of it is settled by the gateway itself; B's is not A's repeat but a stranger's post.
    read_frames(api, conversation, completed_for(message.json()["message_id"]))
    _error(api_b.get(f"/v1/conversations/{conversation}"), 404, "conversation_not_found")
    _error(api_b.post(f"/v1/conversations/{conversation}/messages", json={"content": "hi"}), 404)
    _error(api_b.get(f"/v1/conversations/{conversation}/events"), 404)
    _error(
        api_b.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": "hi", "client_message_id": "x"},
        ),
        404,
    )
    _error(
        api_b.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": "hi", "client_message_id": "a-1"},
        ),
        404,
    )
    repeat = api.post(
        f"/v1/conversations/{conversation}/messages", json={"content": "secret order 42", "client_message_id": "a-1"}
    )
    assert repeat.status_code == 202 and repeat.json()["duplicate"] is True
    assert repeat.json()["message_id"] == message.json()["message_id"]
    assert ws_close_code(platform_url(api_b), conversation, api_b.headers["authorization"]) == (
        4404,
        "conversation_not_found",
    )
    # Tenant A still sees its conversation, untouched by B's attempts.
    detail = api.get(f"/v1/conversations/{conversation}").json()
    assert [m["content"] for m in detail["messages"]][:1] == ["secret order 42"]


def test_websocket_without_credentials_is_refused(platform: Platform, conversation: str) -> None:
    assert ws_close_code(platform.base_url, conversation, None) == (4401, "unauthenticated")
    assert ws_close_code(platform.base_url, conversation, "Bearer ak_wrong") == (4401, "unauthenticated")
