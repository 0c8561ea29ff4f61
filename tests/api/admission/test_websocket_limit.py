"""Opening an event stream over WebSocket is a read like any other: it spends the same rate-limit bucket,
and a refusal closes the socket with 4429 and the reason, while other tenants' streams are unaffected."""

from __future__ import annotations

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform
from tests.e2e.ws import ws_url

# The free plan's read burst is 40; a few more attempts cover what refills while they run.
_ATTEMPTS = 80


def _opens(base_url: str, conversation_id: str, key: str) -> tuple[bool, int, str]:
    """(admitted, close code, reason): an admitted stream stays open and quiet; a refused one closes at once."""
    with connect(
        ws_url(base_url, conversation_id), additional_headers={"Authorization": f"Bearer {key}"}, open_timeout=10
    ) as ws:
        try:
            ws.recv(timeout=0.05)
        except TimeoutError:
            return True, 0, ""
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return False, closed.rcvd.code, closed.rcvd.reason
    return True, 0, ""


def _conversation(base_url: str, key: str) -> str:
    created = httpx.post(
        f"{base_url}/v1/conversations", json={}, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_websocket_streams_are_rate_limited_per_tenant(platform: Platform) -> None:
    _free_id, free_key = create_test_tenant(platform.settings, "WS free", plan="free")
    _pro_id, pro_key = create_test_tenant(platform.settings, "WS pro", plan="pro")
    free_conversation = _conversation(platform.base_url, free_key)
    pro_conversation = _conversation(platform.base_url, pro_key)

    outcomes = []
    for _ in range(_ATTEMPTS):
        outcome = _opens(platform.base_url, free_conversation, free_key)
        outcomes.append(outcome)
        if not outcome[0]:
            break
    admitted = [o for o in outcomes if o[0]]
    assert 30 <= len(admitted) < _ATTEMPTS, "the free plan's read burst should admit about 40 streams"
    assert outcomes[-1][1:] == (4429, "rate_limited")

    # Another tenant's bucket is its own.
    assert _opens(platform.base_url, pro_conversation, pro_key)[0]
