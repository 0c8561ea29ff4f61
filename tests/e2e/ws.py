"""WebSocket helpers for tests, on the `websockets` client that ships with uvicorn's standard extra."""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def platform_url(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def ws_url(base_url: str, conversation_id: str, query: str = "") -> str:
    url = base_url.replace("http://", "ws://", 1) + f"/v1/conversations/{conversation_id}/ws"
    return f"{url}?{query}" if query else url


def ws_close_code(base_url: str, conversation_id: str, authorization: str | None) -> tuple[int, str]:
    headers = {"Authorization": authorization} if authorization else {}
    with connect(ws_url(base_url, conversation_id), additional_headers=headers, open_timeout=10) as ws:
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("the server did not close the connection")


def ws_events(
    base_url: str, conversation_id: str, authorization: str, *, until_type: str, query: str = "", timeout: float = 30
) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    with connect(
        ws_url(base_url, conversation_id, query), additional_headers={"Authorization": authorization}, open_timeout=10
    ) as ws:
        while True:
            message = json.loads(ws.recv(timeout=timeout))
            received.append(message)
            if message["type"] == until_type:
                return received
