"""Every HTTP request's outer checks and measures: the body size limit, the request id in the logs and on the
response, and the request count and latency per route.

A plain ASGI middleware rather than Starlette's `BaseHTTPMiddleware` (`@app.middleware("http")`), which ran
every response body through a memory stream and a task group of its own: for an event stream that was one
hand-off more per event, and for every request a task more, on the gateway's one core. Latency is measured,
as before, to the start of the response, so an event stream counts the time to its first byte, not its life.

A body is held to its limit whether or not it says its length: one without a Content-Length (chunked) is
counted as the route reads it, and the read that passes the limit fails with the same 413.
"""

from __future__ import annotations

import re
import time

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from core.correlation import REQUEST_ID_HEADER, request_id_from
from core.telemetry import HTTP_REQUESTS, HTTP_SECONDS
from knowledge.limits import UPLOAD_ENVELOPE_BYTES

MAX_BODY_BYTES = 1_048_576
# Document uploads carry files: the largest any plan allows passes here, the route applies the tenant's own.
# The console's upload form posts to its own route, which calls the same upload function.
_UPLOAD_PATH = re.compile(r"^(/v1|/console)/knowledge/collections/[^/]+/documents$")
MAX_UPLOAD_BYTES = UPLOAD_ENVELOPE_BYTES


def _too_large(limit: int) -> str:
    return f"request bodies are limited to {limit} bytes"


def _counted(receive: Receive, limit: int) -> Receive:
    """`receive`, failing the read that takes the body past `limit` bytes."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # An HTTP exception, which the framework passes on as it is (it answers any other error raised
                # while reading a body with a 400); the error handlers give it the usual body.
                raise HTTPException(413, _too_large(limit))
        return message

    return counted


def body_limit(method: str, path: str, headers: Headers) -> int:
    multipart = headers.get("content-type", "").lower().startswith("multipart/form-data")
    if multipart and method == "POST" and _UPLOAD_PATH.match(path):
        return MAX_UPLOAD_BYTES
    return MAX_BODY_BYTES


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method, path = scope["method"], scope["path"]
        length = headers.get("content-length")
        limit = body_limit(method, path, headers)
        if length is not None and (not length.isdigit() or int(length) > limit):
            refusal = JSONResponse(error_body("payload_too_large", _too_large(limit)), 413)
            await refusal(scope, receive, send)
            return
        if length is None:
            receive = _counted(receive, limit)
        started = time.perf_counter()
        request_id = request_id_from(headers.get(REQUEST_ID_HEADER))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, path=path)

        async def send_measured(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                route = getattr(scope.get("route"), "path", "unmatched")
                HTTP_REQUESTS.labels(route=route, method=method, status=str(message["status"])).inc()
                HTTP_SECONDS.labels(route=route).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, send_measured)
