"""Retry policies and timeouts shared by every workflow, so no call site invents its own numbers."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from contracts.errors import (
    NON_RETRYABLE_LIFECYCLE_ERRORS,
    NON_RETRYABLE_MODEL_ERRORS,
    NON_RETRYABLE_SAGA_ERRORS,
    ToolErrorType,
    type_names,
)

MODEL_CALL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=type_names(NON_RETRYABLE_MODEL_ERRORS),
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

# Offboarding must finish eventually, so attempts are unlimited; the backoff keeps a broken dependency
# from being hammered for the days it may take to fix.
LIFECYCLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
    non_retryable_error_types=type_names(NON_RETRYABLE_LIFECYCLE_ERRORS),
)

# Sagas (`workflows/saga.py`): every step and compensation is a tool activity idempotent by its key, so a
# retry repeats nothing; `contracts.errors.NON_RETRYABLE_SAGA_ERRORS` are the errors no retry can fix.
# A step gives up soon: the saga then compensates, and the customer hears about it within a minute.
SAGA_STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
    non_retryable_error_types=type_names(NON_RETRYABLE_SAGA_ERRORS),
)
# One step is one transaction or one connector call; a worker that died mid-step is noticed after this.
SAGA_STEP_START_TO_CLOSE = timedelta(seconds=15)
# A compensation tries harder (about five minutes) before a human is asked to finish it; an open circuit
# breaker is worth waiting out here, so `ToolUnavailable` is retried.
SAGA_COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=10,
    non_retryable_error_types=[t for t in type_names(NON_RETRYABLE_SAGA_ERRORS) if t != ToolErrorType.UNAVAILABLE],
)
SAGA_COMPENSATION_START_TO_CLOSE = timedelta(seconds=15)
# Saga progress events and the ticket for a human: small writes, retried a while, never fatal to the saga.
SAGA_NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=type_names(NON_RETRYABLE_SAGA_ERRORS),
)
SAGA_NOTIFY_START_TO_CLOSE = timedelta(seconds=15)

# Nightly drift analysis: a tenant's analysis is a read, a computation and one upsert, safe to repeat. A
# tenant that still fails after these attempts is named in the night's result and the night goes on.
DRIFT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
)

# Erasure must finish: attempts are unlimited (a customer's request does not lapse), backing off to a
# minute; every step is idempotent, so a repeat erases nothing twice.
ERASURE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
)
# Retention runs daily: a tenant that keeps failing is named in the result and retried the next day.
RETENTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
)
# Disaster-recovery drills: a backup or a restore that failed is not retried blindly (each attempt starts
# from scratch and costs minutes); two attempts, then the drill fails and alerts.
DR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=2,
)
# Key rotation must finish (an old key version stays usable until it does); every step is idempotent.
KEY_ROTATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
)
