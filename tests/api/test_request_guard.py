"""The gateway's outer middleware: body limits, request ids and per-route measures, for plain responses and
event streams alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from api.errors import install_error_handlers
from api.request_guard import MAX_BODY_BYTES, RequestGuard
from core.correlation import REQUEST_ID_HEADER
from core.telemetry import HTTP_REQUESTS


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/guarded/{item}")
    async def post(item: str) -> dict[str, str]:
        return {"item": item}

    @app.post("/guarded-body")
    async def body(payload: dict[str, str]) -> dict[str, int]:
        return {"keys": len(payload)}

    @app.get("/guarded-stream")
    async def stream() -> StreamingResponse:
        async def frames() -> AsyncIterator[str]:
            for i in range(3):
                yield f"id: {i}\ndata: {i}\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    app.add_middleware(RequestGuard)
    return app


def _count(route: str, status: str) -> float:
    return HTTP_REQUESTS.labels(route=route, method="POST", status=status)._value.get()


def test_request_ids_are_echoed_when_sane_and_drawn_otherwise() -> None:
    with TestClient(_app()) as client:
        kept = client.post("/guarded/a", headers={REQUEST_ID_HEADER: "req-12345678"})
        assert kept.status_code == 200 and kept.json() == {"item": "a"}
        assert kept.headers[REQUEST_ID_HEADER] == "req-12345678"
        drawn = client.post("/guarded/a", headers={REQUEST_ID_HEADER: "bad id;drop"}).headers[REQUEST_ID_HEADER]
        assert drawn != "bad id;drop" and len(drawn) == 32


def test_requests_are_counted_per_route_template_and_status() -> None:
    before = _count("/guarded/{item}", "200"), _count("unmatched", "404")
    with TestClient(_app()) as client:
        client.post("/guarded/a")
        client.post("/guarded/b")
        client.post("/nowhere")
    assert _count("/guarded/{item}", "200") == before[0] + 2
    assert _count("unmatched", "404") == before[1] + 1


def test_bodies_over_the_limit_are_refused_before_the_route() -> None:
    with TestClient(_app()) as client:
        refused = client.post(
            "/guarded/a", content=b"x" * (MAX_BODY_BYTES + 1), headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 413
        assert refused.json()["error"]["code"] == "payload_too_large"
        malformed = client.post("/guarded/a", headers={"Content-Length": "ten"})
        assert malformed.status_code == 413


def _chunks(total: int, size: int = 65_536) -> Iterator[bytes]:
    """A JSON object of `total` bytes or a little more, sent without a Content-Length (chunked)."""
    yield b'{"a": "'
    sent = 7
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


def test_chunked_bodies_without_a_length_are_held_to_the_same_limit() -> None:
    with TestClient(_app()) as client:
        refused = client.post(
            "/guarded-body", content=_chunks(MAX_BODY_BYTES + 1), headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["code"] == "payload_too_large"
        small = client.post("/guarded-body", content=_chunks(1_000, 100), headers={"Content-Type": "application/json"})
        assert small.status_code == 200 and small.json() == {"keys": 1}


def test_event_streams_pass_through_whole_with_the_request_id() -> None:
    with TestClient(_app()) as client, client.stream("GET", "/guarded-stream") as response:
        assert response.status_code == 200
        assert response.headers[REQUEST_ID_HEADER]
        assert "".join(response.iter_text()) == "".join(f"id: {i}\ndata: {i}\n\n" for i in range(3))
