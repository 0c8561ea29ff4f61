"""Domain errors that no retry can fix fail an activity at its first attempt, whatever its retry policy.

An exception class names its failure type (`failure_type = ResidencyErrorType.REGION_MISMATCH`, a member of
`contracts.errors.FAIL_FAST_ERRORS`); raised out of any activity, the interceptor turns it into a non-retryable
`ApplicationError` of that type. Retry policies need not list it, and a workflow reads the same type either way.
Without this, the SDK would report it under its class name as retryable, and an unlimited policy (offboarding,
erasure) would retry a refusal that the deployment, not the moment, decides.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from contracts.errors import FAIL_FAST_ERRORS


def fail_fast_type(exc: BaseException) -> str | None:
    """The registered non-retryable failure type `exc` declares, or None."""
    declared = getattr(type(exc), "failure_type", None)
    return str(declared) if declared is not None and declared in FAIL_FAST_ERRORS else None


class _FailFast(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except ApplicationError:
            raise
        except Exception as exc:
            failure_type = fail_fast_type(exc)
            if failure_type is None:
                raise
            raise ApplicationError(str(exc), type=failure_type, non_retryable=True) from exc


class FailFastInterceptor(Interceptor):
    """Raises registered domain refusals out of activities as non-retryable failures."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _FailFast(super().intercept_activity(next))
