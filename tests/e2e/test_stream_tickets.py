"""Stream tickets: what a browser opens an event stream with, since it cannot send an Authorization header.

A ticket opens one stream of one conversation for the principal that asked, once, within its lifetime;
every other use is refused with a reason, tenant B's included.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.e2e.platform import Platform, extra_gateway
from tests.e2e.sse import completed_for, events_of, read_frames
from tests.e2e.ws import platform_url, ws_close_code, ws_events


def _turn(api: httpx.Client, text: str = "hello") -> tuple[str, str]:
    conversation_id = api.post("/v1/conversations", json={}).json()["id"]
    posted = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": text})
    assert posted.status_code == 202, posted.text
    return conversation_id, posted.json()["message_id"]


def _ticket(api: httpx.Client, conversation_id: str) -> str:
    issued = api.post(f"/v1/conversations/{conversation_id}/stream-tickets")
    assert issued.status_code == 201, issued.text
    return str(issued.json()["ticket"])


@pytest.fixture
def anonymous(platform: Platform) -> Iterator[httpx.Client]:
    """A client with no Authorization header, like a browser's EventSource."""
    with httpx.Client(base_url=platform.base_url, timeout=30.0) as client:
        yield client


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


def test_a_ticket_is_short_lived_and_names_nothing_of_the_key(api: httpx.Client, tenant_a: tuple[str, str]) -> None:
    conversation_id, _ = _turn(api)
    issued = api.post(f"/v1/conversations/{conversation_id}/stream-tickets")
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert set(body) == {"ticket", "expires_at"}
    assert body["ticket"].startswith("st_") and tenant_a[1] not in body["ticket"]
    lifetime = (datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)).total_seconds()
    assert 50 < lifetime <= 60
    assert api.post(f"/v1/conversations/{conversation_id}/stream-tickets").json()["ticket"] != body["ticket"]


def test_an_event_source_opens_the_stream_with_a_ticket_once(api: httpx.Client, anonymous: httpx.Client) -> None:
    conversation_id, message_id = _turn(api, "by ticket")
    ticket = _ticket(api, conversation_id)
    frames = read_frames(anonymous, conversation_id, completed_for(message_id), params={"ticket": ticket})
    assert [f.event for f in events_of(frames)][-1] == "message.completed"
    again = anonymous.get(f"/v1/conversations/{conversation_id}/events", params={"ticket": ticket})
    _error(again, 401, "invalid_ticket")
    assert again.headers["www-authenticate"].startswith("Bearer")


def test_a_websocket_opens_with_a_ticket_once(api: httpx.Client) -> None:
    conversation_id, _ = _turn(api, "socket by ticket")
    base = platform_url(api)
    ticket = _ticket(api, conversation_id)
    received = ws_events(base, conversation_id, None, until_type="message.completed", query=f"ticket={ticket}")
    assert received[-1]["type"] == "message.completed"
    assert ws_close_code(base, conversation_id, None, query=f"ticket={ticket}") == (4401, "invalid_ticket")


def test_a_ticket_opens_only_its_own_conversation_and_is_spent_by_trying(
    api: httpx.Client, anonymous: httpx.Client
) -> None:
    mine, _ = _turn(api, "the ticket's own")
    other, _ = _turn(api, "another of the same tenant")
    base = platform_url(api)
    ticket = _ticket(api, mine)
    assert ws_close_code(base, other, None, query=f"ticket={ticket}") == (4403, "ticket_not_for_conversation")
    # The attempt spent it: a ticket that leaked cannot be tried against conversation after conversation.
    assert ws_close_code(base, mine, None, query=f"ticket={ticket}") == (4401, "invalid_ticket")
    sse_ticket = _ticket(api, mine)
    wrong = anonymous.get(f"/v1/conversations/{other}/events", params={"ticket": sse_ticket})
    _error(wrong, 403, "ticket_not_for_conversation")
    _error(anonymous.get(f"/v1/conversations/{mine}/events", params={"ticket": sse_ticket}), 401, "invalid_ticket")


def test_tenant_b_gets_no_ticket_for_tenant_a_and_its_own_opens_nothing_of_a(
    api: httpx.Client, api_b: httpx.Client, anonymous: httpx.Client
) -> None:
    a_conversation, _ = _turn(api, "tenant A's secret")
    b_conversation, _ = _turn(api_b, "tenant B's own")
    base = platform_url(api)
    _error(api_b.post(f"/v1/conversations/{a_conversation}/stream-tickets"), 404, "conversation_not_found")
    b_ticket = _ticket(api_b, b_conversation)
    closed = ws_close_code(base, a_conversation, None, query=f"ticket={b_ticket}")
    assert closed == (4403, "ticket_not_for_conversation")
    b_sse_ticket = _ticket(api_b, b_conversation)
    refused = anonymous.get(f"/v1/conversations/{a_conversation}/events", params={"ticket": b_sse_ticket})
    _error(refused, 403, "ticket_not_for_conversation")
    assert "tenant A's secret" not in refused.text
    # Tenant A's own ticket still works for its conversation, untouched by B's attempts.
    a_ticket = _ticket(api, a_conversation)
    received = ws_events(base, a_conversation, None, until_type="message.completed", query=f"ticket={a_ticket}")
    assert received[0]["type"] == "message.accepted"


def test_made_up_tickets_open_nothing(platform: Platform, api: httpx.Client, anonymous: httpx.Client) -> None:
    conversation_id, _ = _turn(api)
    for ticket in ("", "st_" + "A" * 43, "nonsense", "st_" + "x" * 200):
        closed = ws_close_code(platform.base_url, conversation_id, None, query=f"ticket={ticket}")
        assert closed == (4401, "invalid_ticket")
        refused = anonymous.get(f"/v1/conversations/{conversation_id}/events", params={"ticket": ticket})
        _error(refused, 401, "invalid_ticket")


def test_asking_for_a_ticket_needs_read_permission(platform: Platform, api: httpx.Client) -> None:
    conversation_id, _ = _turn(api)
    with httpx.Client(base_url=platform.base_url) as client:
        _error(client.post(f"/v1/conversations/{conversation_id}/stream-tickets"), 401, "unauthenticated")
    writer = {"name": "writer", "role": "developer", "scopes": ["conversations:write"]}
    write_only = api.post("/v1/api-keys", json=writer)
    assert write_only.status_code == 201, write_only.text
    headers = {"Authorization": f"Bearer {write_only.json()['api_key']}"}
    with httpx.Client(base_url=platform.base_url, headers=headers) as client:
        _error(client.post(f"/v1/conversations/{conversation_id}/stream-tickets"), 403, "forbidden")


def test_an_expired_ticket_opens_nothing(
    platform: Platform, api: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """About the ticket's lifetime itself, so this gateway shortens it; the shared one keeps the default."""
    conversation_id, _ = _turn(api)
    data_dir = tmp_path_factory.mktemp("short-tickets")
    with extra_gateway(platform, data_dir, "short-tickets", AIAAS_STREAM_TICKET_TTL_SECONDS="2") as url:
        headers = {"Authorization": api.headers["authorization"]}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            ws_ticket = _ticket(client, conversation_id)
            sse_ticket = _ticket(client, conversation_id)
            fresh = _ticket(client, conversation_id)
            # Good within its lifetime; the others lapse unused.
            with_fresh = ws_events(url, conversation_id, None, until_type="message.completed", query=f"ticket={fresh}")
            assert with_fresh[-1]["type"] == "message.completed"
            time.sleep(2.5)
            assert ws_close_code(url, conversation_id, None, query=f"ticket={ws_ticket}") == (4401, "invalid_ticket")
        with httpx.Client(base_url=url, timeout=30) as anonymous:
            late = anonymous.get(f"/v1/conversations/{conversation_id}/events", params={"ticket": sse_ticket})
            _error(late, 401, "invalid_ticket")
