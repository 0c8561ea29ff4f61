"""How a stream is asked for: the bearer subprotocol browsers can send, credentials that must never sit in a
URL, and bad WebSocket parameters, each refused with a close code and a reason instead of a bare 403."""

from __future__ import annotations

import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from app.gateway import WS_MAX_MESSAGE_BYTES
from tests.e2e.platform import Platform
from tests.e2e.ws import open_ws, platform_url, receive_until, ws_close_code


@pytest.fixture
def conversation(api: httpx.Client) -> str:
    conversation_id = api.post("/v1/conversations", json={}).json()["id"]
    assert api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": "hi"}).status_code == 202
    return str(conversation_id)


def test_a_browser_sends_its_token_as_a_subprotocol_and_only_the_marker_comes_back(
    api: httpx.Client, tenant_a: tuple[str, str], conversation: str
) -> None:
    with open_ws(platform_url(api), conversation, subprotocols=["aiaas.bearer", tenant_a[1]]) as ws:
        assert ws.subprotocol == "aiaas.bearer"
        assert tenant_a[1] not in str(ws.response.headers)
        assert receive_until(ws, "message.completed")[0]["type"] == "message.accepted"


def test_a_client_message_past_the_size_limit_closes_the_socket_and_small_ones_are_ignored(
    api: httpx.Client, tenant_a: tuple[str, str], conversation: str
) -> None:
    authorization = f"Bearer {tenant_a[1]}"
    with open_ws(platform_url(api), conversation, authorization) as ws:
        ws.send("ping")  # read and ignored: the stream goes on
        assert receive_until(ws, "message.completed")[0]["type"] == "message.accepted"
    with open_ws(platform_url(api), conversation, authorization) as ws:
        ws.send("x" * (WS_MAX_MESSAGE_BYTES + 1))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_bad_subprotocol_credentials_are_refused(
    platform: Platform, tenant_a: tuple[str, str], conversation: str
) -> None:
    base = platform.base_url
    assert ws_close_code(base, conversation, None, subprotocols=["aiaas.bearer", "ak_wrong"]) == (
        4401,
        "unauthenticated",
    )
    assert ws_close_code(base, conversation, None, subprotocols=["aiaas.bearer"]) == (4401, "unauthenticated")
    both = ws_close_code(base, conversation, f"Bearer {tenant_a[1]}", subprotocols=["aiaas.bearer", tenant_a[1]])
    assert both == (4400, "conflicting_credentials")


@pytest.mark.parametrize("name", ["api_key", "token", "access_token", "API_KEY"])
def test_credentials_in_the_query_string_are_refused(
    platform: Platform, tenant_a: tuple[str, str], conversation: str, name: str
) -> None:
    key = tenant_a[1]
    assert ws_close_code(platform.base_url, conversation, None, query=f"{name}={key}") == (
        4400,
        "credentials_in_query",
    )
    # Refused even next to a valid header: the key has already been written into a URL somewhere.
    closed = ws_close_code(platform.base_url, conversation, f"Bearer {key}", query=f"{name}={key}")
    assert closed == (4400, "credentials_in_query")
    with httpx.Client(base_url=platform.base_url, timeout=10) as client:
        for headers in ({}, {"Authorization": f"Bearer {key}"}):
            response = client.get(f"/v1/conversations/{conversation}/events", params={name: key}, headers=headers)
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert error["code"] == "credentials_in_query" and error["details"] == {"parameters": [name]}
            assert key not in response.text


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("drop_policy=sometimes", "invalid_drop_policy"),
        ("drop_policy=", "invalid_drop_policy"),
        ("queue_size=0", "invalid_queue_size"),
        ("queue_size=10001", "invalid_queue_size"),
        ("queue_size=-3", "invalid_queue_size"),
        ("queue_size=many", "invalid_queue_size"),
        ("after=yesterday", "invalid_event_id"),
        ("after=" + "1" * 80 + "-0", "invalid_event_id"),
    ],
)
def test_bad_websocket_parameters_close_with_4400_and_the_reason(
    api: httpx.Client, tenant_a: tuple[str, str], conversation: str, query: str, reason: str
) -> None:
    assert ws_close_code(platform_url(api), conversation, f"Bearer {tenant_a[1]}", query=query) == (4400, reason)


def test_good_websocket_parameters_at_their_bounds_are_taken(
    api: httpx.Client, tenant_a: tuple[str, str], conversation: str
) -> None:
    for query in ("drop_policy=drop-newest&queue_size=1", "drop_policy=disconnect&queue_size=10000"):
        with open_ws(platform_url(api), conversation, f"Bearer {tenant_a[1]}", query=query) as ws:
            assert receive_until(ws, "message.accepted")[0]["type"] == "message.accepted"


def test_a_websocket_for_no_conversation_says_so(api: httpx.Client, tenant_a: tuple[str, str]) -> None:
    auth = f"Bearer {tenant_a[1]}"
    assert ws_close_code(platform_url(api), str(uuid.uuid4()), auth) == (4404, "conversation_not_found")
    assert ws_close_code(platform_url(api), "not-a-uuid", auth) == (4400, "invalid_conversation_id")
