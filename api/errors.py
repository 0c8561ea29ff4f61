"""One error shape for every failure: `{"error": {"code", "message", "details"}}`, never a stack trace."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from db.regions import ResidencyError

log = structlog.get_logger("aiaas.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _clean(errors: list[Any]) -> list[dict[str, Any]]:
    # Echo where and why, never the rejected input itself: it may be huge or hold secrets.
    return [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in errors]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(error_body("malformed_json", "the request body is not valid JSON", _clean(errors)), 400)
        return JSONResponse(error_body("invalid_request", "the request is not valid", _clean(errors)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        details = None
        path = request.url.path
        if exc.status_code == 404 and len(path) > 1 and path.endswith("/"):
            # Paths are matched as written, never redirected: a redirect drops the body of a POST in some clients.
            message = "no such route: paths take no trailing slash"
            details = {"path": path.rstrip("/")}
        return JSONResponse(error_body(code, message, details), exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(ResidencyError)
    async def _residency(_request: Request, exc: ResidencyError) -> JSONResponse:
        # Never served from the wrong region's database: the data lives elsewhere or is not reachable here.
        details = {"region": exc.region}
        return JSONResponse(error_body(exc.code, "this tenant's data is not served here", details), 503)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
        return JSONResponse(error_body("internal", "an internal error occurred"), 500)
