"""`AIAAS_TRUSTED_PROXIES`: the gateway's uvicorn believes `X-Forwarded-For` only from the proxies it names.

A real uvicorn server under the gateway's own configuration (`app.gateway.gateway_config`) serves a small
app that answers with the client address the request's scope carries, which is what the edge and signup
limits count by.
"""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from pydantic import ValidationError

from app.gateway import gateway_config
from core.settings import Settings


async def _echo_client(scope: dict, receive: object, send: object) -> None:
    if scope["type"] != "http":
        return
    client = scope.get("client") or ("", 0)
    body = json.dumps({"client": client[0], "scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


async def _seen(settings: Settings, headers: dict[str, str]) -> dict[str, str]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(gateway_config(settings, "127.0.0.1", port, app=_echo_client))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/", headers=headers)
        return answer.json()
    finally:
        server.should_exit = True
        await serving
        sock.close()


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


async def test_without_trusted_proxies_a_client_cannot_claim_another_address() -> None:
    seen = await _seen(Settings(), FORWARDED)
    assert seen == {"client": "127.0.0.1", "scheme": "http"}


async def test_a_trusted_proxy_names_the_client_and_the_scheme() -> None:
    seen = await _seen(Settings(trusted_proxies=["127.0.0.0/8"]), FORWARDED)
    assert seen == {"client": "203.0.113.7", "scheme": "https"}


async def test_the_chain_is_read_from_the_right_past_trusted_hops_only() -> None:
    # The client wrote its own X-Forwarded-For (198.51.100.1) before the first proxy appended the real peer.
    chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.2.3"}
    seen = await _seen(Settings(trusted_proxies=["127.0.0.1", "10.0.0.0/8"]), chain)
    assert seen["client"] == "203.0.113.7"


async def test_a_peer_outside_the_trusted_networks_is_its_own_client() -> None:
    seen = await _seen(Settings(trusted_proxies=["10.0.0.0/8"]), FORWARDED)
    assert seen == {"client": "127.0.0.1", "scheme": "http"}


@pytest.mark.parametrize("entry", ["*", "not-an-address", "10.0.0.0/33"])
def test_a_wildcard_or_a_malformed_entry_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValidationError, match="AIAAS_TRUSTED_PROXIES"):
        Settings(trusted_proxies=[entry])


def test_the_setting_is_read_from_the_environment_as_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_TRUSTED_PROXIES", '["10.0.0.0/8", "192.0.2.10"]')
    assert Settings().trusted_proxies == ["10.0.0.0/8", "192.0.2.10/32"]
