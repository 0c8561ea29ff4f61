"""WebSocket helpers for tests, on the `websockets` client that ships with uvicorn's standard extra."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol


def platform_url(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def ws_url(base_url: str, conversation_id: str, query: str = "") -> str:
    url = base_url.replace("http://", "ws://", 1) + f"/v1/conversations/{conversation_id}/ws"
    return f"{url}?{query}" if query else url


def open_ws(
    base_url: str,
    conversation_id: str,
    authorization: str | None = None,
    *,
    query: str = "",
    subprotocols: Sequence[str] | None = None,
) -> ClientConnection:
    headers = {"Authorization": authorization} if authorization else {}
    return connect(
        ws_url(base_url, conversation_id, query),
        additional_headers=headers,
        subprotocols=[Subprotocol(p) for p in subprotocols] if subprotocols else None,
        open_timeout=10,
    )


def ws_close_code(
    base_url: str,
    conversation_id: str,
    authorization: str | None,
    *,
    query: str = "",
    subprotocols: Sequence[str] | None = None,
) -> tuple[int, str]:
    with open_ws(base_url, conversation_id, authorization, query=query, subprotocols=subprotocols) as ws:
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("the server did not close the connection")


def receive_until(ws: ClientConnection, until_type: str, *, timeout: float = 30) -> list[dict[str, Any]]:
    """Messages up to the first of `until_type`, keep-alives left out."""
    received: list[dict[str, Any]] = []
    while True:
        message = json.loads(ws.recv(timeout=timeout))
        if message["type"] == "keep-alive":
            continue
        received.append(message)
        if message["type"] == until_type:
            return received


def ws_events(
    base_url: str,
    conversation_id: str,
    authorization: str | None,
    *,
    until_type: str,
    query: str = "",
    subprotocols: Sequence[str] | None = None,
    timeout: float = 30,
) -> list[dict[str, Any]]:
    with open_ws(base_url, conversation_id, authorization, query=query, subprotocols=subprotocols) as ws:
        return receive_until(ws, until_type, timeout=timeout)
