"""Which media type a /v1 request body must declare, checked before the body is read.

Every /v1 body is JSON (`application/json`, or an `application/*+json` type such as merge-patch), except on routes
that declare other types in their OpenAPI request body (the CSV imports, via `body_of`): the schema a client
reads and the check the gateway makes come from the same declaration. A body under any other type, or under
none, is a 415 `unsupported_media_type` that names what the route takes; without the check FastAPI would read
such a body as raw bytes and answer with a validation error about the body's shape, which points the wrong way.
A request without a body (no `Content-Length`, or zero, and no chunked transfer) is never refused here.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from api.errors import ApiError

JSON = "application/json"
CSV = "text/csv"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def body_of(media_type: str, description: str, *, example: str | None = None) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body itself, as `media_type` (a string in the schema)."""
    schema: dict[str, Any] = {"type": "string"}
    if example is not None:
        schema["example"] = example
    return {"requestBody": {"required": True, "description": description, "content": {media_type: {"schema": schema}}}}


def _accepted(route: Any) -> list[str]:
    extra = getattr(route, "openapi_extra", None) or {}
    declared = extra.get("requestBody", {}).get("content", {})
    return list(declared) or [JSON]


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


def _matches(received: str, accepted: str) -> bool:
    if accepted == JSON:
        main, _, sub = received.partition("/")
        return received == JSON or (main == "application" and sub.endswith("+json"))
    return received == accepted


async def require_media_type(request: Request) -> None:
    if request.method not in _BODY_METHODS or not _has_body(request):
        return
    accepted = _accepted(request.scope.get("route"))
    received = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if not any(_matches(received, media_type) for media_type in accepted):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as {' or '.join(accepted)}",
            {"accepted": accepted, "received": received or None},
        )


RequireMediaType = Depends(require_media_type)
