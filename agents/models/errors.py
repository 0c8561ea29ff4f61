"""Provider errors mapped onto Temporal's retry semantics.

Providers run with their own retries off; this mapping decides what Temporal retries, and how soon: a
provider's Retry-After becomes the next retry delay, errors no retry can fix are non-retryable.
"""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime

from temporalio.exceptions import ApplicationError

from contracts.errors import ModelErrorType

_MAX_RETRY_AFTER = timedelta(minutes=5)

# status code -> (error type, non_retryable)
_BY_STATUS: dict[int, tuple[ModelErrorType, bool]] = {
    400: (ModelErrorType.BAD_REQUEST, True),
    401: (ModelErrorType.AUTHENTICATION_FAILED, True),
    403: (ModelErrorType.AUTHENTICATION_FAILED, True),
    404: (ModelErrorType.NOT_FOUND, True),
    408: (ModelErrorType.TIMEOUT, False),
    409: (ModelErrorType.CONFLICT, False),
    422: (ModelErrorType.BAD_REQUEST, True),
    429: (ModelErrorType.RATE_LIMITED, False),
}


def _root(exc: BaseException) -> BaseException:
    """litellm wraps errors raised mid-stream; the original carries the status and headers."""
    seen = 0
    while getattr(exc, "original_exception", None) is not None and seen < 5:
        exc = exc.original_exception  # type: ignore[attr-defined]
        seen += 1
    return exc


def retry_after(exc: BaseException) -> timedelta | None:
    response = getattr(_root(exc), "response", None) or getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        delay = timedelta(seconds=float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        from datetime import UTC, datetime

        delay = when - datetime.now(UTC)
    return max(timedelta(0), min(delay, _MAX_RETRY_AFTER))


def to_application_error(exc: BaseException, model: str) -> ApplicationError:
    root = _root(exc)
    status = getattr(root, "status_code", None) or getattr(exc, "status_code", None)
    name = type(root).__name__
    if name == "ContextWindowExceededError":
        error_type, non_retryable = ModelErrorType.BAD_REQUEST, True
    elif name == "ContentPolicyViolationError":
        error_type, non_retryable = ModelErrorType.CONTENT_REJECTED, True
    elif isinstance(status, int) and status in _BY_STATUS:
        error_type, non_retryable = _BY_STATUS[status]
    else:
        # Timeouts, connection errors, 5xx: transient.
        error_type, non_retryable = ModelErrorType.UNAVAILABLE, False
    message = str(getattr(root, "message", None) or root)[:500]
    return ApplicationError(
        f"{model}: {message}",
        {"model": model, "status": status, "provider_error": name},
        type=error_type,
        non_retryable=non_retryable,
        next_retry_delay=None if non_retryable else retry_after(exc),
    )
