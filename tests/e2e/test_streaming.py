"""Event delivery: SSE resume with Last-Event-ID, WebSocket parity, health endpoints.

Idle streams and their keep-alives: `test_idle_streams.py`.
"""

from __future__ import annotations

import httpx

from tests.e2e.platform import Platform
from tests.e2e.sse import completed_for, events_of, read_frames
from tests.e2e.ws import platform_url, ws_events


def _turn(api: httpx.Client, text: str) -> tuple[str, str]:
    conversation_id = api.post("/v1/conversations", json={}).json()["id"]
    message_id = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": text}).json()["message_id"]
    return conversation_id, message_id


def test_resume_with_last_event_id_loses_and_repeats_nothing(api: httpx.Client) -> None:
    conversation_id, message_id = _turn(api, "one two three four five six seven eight")
    everything = events_of(read_frames(api, conversation_id, completed_for(message_id)))
    assert len(everything) >= 5
    for cut in range(len(everything) - 1):
        resumed = events_of(
            read_frames(
                api,
                conversation_id,
                lambda fs, n=len(everything) - cut - 1: len(events_of(fs)) >= n,
                last_event_id=everything[cut].id,
            )
        )
        assert [f.id for f in resumed] == [f.id for f in everything[cut + 1 :]]


def test_websocket_delivers_the_same_events(api: httpx.Client, tenant_a: tuple[str, str]) -> None:
    conversation_id, message_id = _turn(api, "over the socket")
    sse = events_of(read_frames(api, conversation_id, completed_for(message_id)))
    received = ws_events(platform_url(api), conversation_id, f"Bearer {tenant_a[1]}", until_type="message.completed")
    assert [m["id"] for m in received] == [f.id for f in sse]
    assert [m["type"] for m in received] == [f.event for f in sse]
    assert all(m["dropped"] == 0 for m in received)
    resumed = ws_events(
        platform_url(api),
        conversation_id,
        f"Bearer {tenant_a[1]}",
        until_type="message.completed",
        query=f"after={sse[1].id}",
    )
    assert [m["id"] for m in resumed] == [f.id for f in sse[2:]]


def test_health_readiness_and_metrics(platform: Platform) -> None:
    with httpx.Client(base_url=platform.base_url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"temporal": "ok", "postgres": "ok", "redis": "ok"}
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert "aiaas_http_requests_total" in metrics.text
        assert client.get("/docs").status_code == 200
        # Correlation: a caller's request id is kept, a missing or malformed one replaced.
        assert (
            client.get("/healthz", headers={"X-Request-ID": "req-12345678"}).headers["x-request-id"] == "req-12345678"
        )
        generated = client.get("/healthz", headers={"X-Request-ID": "bad id;drop"}).headers["x-request-id"]
        assert len(generated) == 32 and generated != "bad id;drop"
        schema = client.get("/openapi.json").json()
        assert "/v1/conversations/{conversation_id}/messages" in schema["paths"]
