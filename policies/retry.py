"""Retry policies and timeouts shared by every workflow, so no call site invents its own numbers."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Error types that retrying cannot fix; providers' mapped errors use these names.
NON_RETRYABLE_MODEL_ERRORS = [
    "ModelBadRequest",
    "ModelAuthenticationFailed",
    "ModelNotFound",
    "ModelContentRejected",
]

MODEL_CALL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=NON_RETRYABLE_MODEL_ERRORS,
)
MODEL_CALL_START_TO_CLOSE = timedelta(minutes=3)
# A streaming model call heartbeats on every delta; a stalled stream is retried after this.
MODEL_CALL_HEARTBEAT = timedelta(seconds=30)

# Short writes to Postgres and Redis, idempotent by key, run as local activities.
PERSISTENCE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,
)
PERSISTENCE_START_TO_CLOSE = timedelta(seconds=15)

# Tenant offboarding: activity error types that retrying cannot fix (the workflow fails with `TenantGone`).
NON_RETRYABLE_LIFECYCLE_ERRORS = ["TenantNotFound", "TenantNotOffboarding"]

# Offboarding must finish eventually, so attempts are unlimited; the backoff keeps a broken dependency
# from being hammered for the days it may take to fix.
LIFECYCLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
    non_retryable_error_types=NON_RETRYABLE_LIFECYCLE_ERRORS,
)
