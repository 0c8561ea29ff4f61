"""A workflow that calls one activity under an unlimited retry policy and reports how it failed; kept apart
from the test so the workflow sandbox imports nothing but Temporal."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

PROBE_ACTIVITY = "residency.probe"


@workflow.defn(name="ResidencyProbe")
class ResidencyProbe:
    @workflow.run
    async def run(self, tenant_id: str) -> list[str]:
        try:
            await workflow.execute_activity(
                PROBE_ACTIVITY,
                tenant_id,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=0),
            )
        except ActivityError as failed:
            cause = failed.cause
            assert isinstance(cause, ApplicationError)
            return [cause.type or "", str(cause.non_retryable)]
        return ["completed", ""]
