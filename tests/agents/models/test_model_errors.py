"""Provider errors become Temporal retry decisions: what is retried, what is not, and how soon."""

from __future__ import annotations

from datetime import timedelta

import httpx
import litellm
import pytest

from agents.models.errors import retry_after, to_application_error


def _response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://provider.invalid"))


def test_rate_limit_is_retryable_after_the_providers_delay() -> None:
    exc = litellm.RateLimitError(
        "slow down", model="m", llm_provider="p", response=_response(429, **{"retry-after": "7"})
    )
    error = to_application_error(exc, "m")
    assert error.type == "ModelRateLimited" and not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=7)


def test_retry_after_is_capped_and_parses_http_dates() -> None:
    huge = litellm.RateLimitError("x", model="m", llm_provider="p", response=_response(429, **{"retry-after": "99999"}))
    assert retry_after(huge) == timedelta(minutes=5)
    dated = litellm.RateLimitError(
        "x", model="m", llm_provider="p", response=_response(429, **{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    assert retry_after(dated) == timedelta(0)
    garbage = litellm.RateLimitError(
        "x", model="m", llm_provider="p", response=_response(429, **{"retry-after": "soon"})
    )
    assert retry_after(garbage) is None


@pytest.mark.parametrize(
    ("exc", "error_type"),
    [
        (litellm.BadRequestError("bad", model="m", llm_provider="p"), "ModelBadRequest"),
        (litellm.AuthenticationError("key", model="m", llm_provider="p"), "ModelAuthenticationFailed"),
        (litellm.NotFoundError("gone", model="m", llm_provider="p"), "ModelNotFound"),
        (litellm.ContextWindowExceededError("long", model="m", llm_provider="p"), "ModelBadRequest"),
        (litellm.ContentPolicyViolationError("no", model="m", llm_provider="p"), "ModelContentRejected"),
    ],
)
def test_errors_no_retry_can_fix_are_non_retryable(exc: Exception, error_type: str) -> None:
    error = to_application_error(exc, "m")
    assert error.type == error_type and error.non_retryable and error.next_retry_delay is None


@pytest.mark.parametrize(
    "exc",
    [
        litellm.ServiceUnavailableError("down", model="m", llm_provider="p"),
        litellm.InternalServerError("oops", model="m", llm_provider="p"),
        litellm.Timeout("slow", model="m", llm_provider="p"),
        litellm.APIConnectionError("refused", model="m", llm_provider="p"),
        RuntimeError("unexpected"),
    ],
)
def test_transient_errors_are_retryable(exc: Exception) -> None:
    error = to_application_error(exc, "m")
    assert not error.non_retryable
    assert error.type in ("ModelUnavailable", "ModelTimeout")


def test_errors_raised_mid_stream_keep_their_cause() -> None:
    inner = litellm.RateLimitError("x", model="m", llm_provider="p", response=_response(429, **{"retry-after": "2"}))
    wrapped = litellm.exceptions.MidStreamFallbackError(
        "wrapped", model="m", llm_provider="p", original_exception=inner
    )
    error = to_application_error(wrapped, "m")
    assert error.type == "ModelRateLimited" and error.next_retry_delay == timedelta(seconds=2)
