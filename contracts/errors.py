"""The error vocabulary, spelled once: the failure types activities raise and workflows read, which of them
a retry can fix, and the domain errors that fail a workflow run.

Activities raise `ApplicationError(type=<one of these>)`; workflows and retry policies compare against the
same members. A member's value is what sits in recorded histories: add members, never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class ToolErrorType(StrEnum):
    """Why a tool call (or a saga step, which is a tool call) did not succeed."""

    ERROR = "ToolError"
    DENIED = "ToolDenied"
    INPUT_INVALID = "ToolInputInvalid"
    NOT_FOUND = "ToolNotFound"
    NOT_ENABLED = "ToolNotEnabled"
    # The model named a tool the agent does not have.
    NOT_ALLOWED = "ToolNotAllowed"
    UNAVAILABLE = "ToolUnavailable"
    CONFLICT = "ToolConflict"
    TRANSIENT = "ToolTransient"
    TIMEOUT = "ToolTimeout"
    BUSY = "ToolBusy"
    CRASHED = "ToolCrashed"
    MISMATCH = "ToolMismatch"
    RUNTIME_FAILED = "ToolRuntimeFailed"
    # The external system behind a connector could not be reached or failed on its side.
    CONNECTOR_ERROR = "ConnectorError"
    # A failure a test or a drill injected into a connector on purpose.
    INJECTED_FAILURE = "InjectedFailure"


class ModelErrorType(StrEnum):
    """A model provider's failure, mapped from its status code or exception."""

    BAD_REQUEST = "ModelBadRequest"
    AUTHENTICATION_FAILED = "ModelAuthenticationFailed"
    NOT_FOUND = "ModelNotFound"
    CONTENT_REJECTED = "ModelContentRejected"
    TIMEOUT = "ModelTimeout"
    CONFLICT = "ModelConflict"
    RATE_LIMITED = "ModelRateLimited"
    UNAVAILABLE = "ModelUnavailable"


class LifecycleErrorType(StrEnum):
    TENANT_NOT_FOUND = "TenantNotFound"
    TENANT_NOT_OFFBOARDING = "TenantNotOffboarding"


class ResidencyErrorType(StrEnum):
    """A tenant's data asked for where it does not live (`db.regions`): the deployment, not the moment, decides."""

    REGION_MISMATCH = "CrossRegionSession"
    REGION_UNAVAILABLE = "RegionNotServed"
    TENANT_NOT_PROVISIONED = "TenantNotProvisioned"


# ---- retry classification ------------------------------------------------------------------------------

# Domain refusals of the tool runtime: the request itself is refused, so a retry cannot change the answer.
TOOL_REFUSALS: frozenset[ToolErrorType] = frozenset(
    {ToolErrorType.DENIED, ToolErrorType.INPUT_INVALID, ToolErrorType.NOT_FOUND, ToolErrorType.CONFLICT}
)
# Every tool error a retry cannot fix: the refusals, a tool switched off, an open circuit breaker.
NON_RETRYABLE_TOOL_ERRORS: tuple[ToolErrorType, ...] = (
    ToolErrorType.DENIED,
    ToolErrorType.INPUT_INVALID,
    ToolErrorType.NOT_FOUND,
    ToolErrorType.NOT_ENABLED,
    ToolErrorType.UNAVAILABLE,
    ToolErrorType.CONFLICT,
)
# A saga step also gives up at once on an injected failure: the drill wants the compensation to run.
NON_RETRYABLE_SAGA_ERRORS: tuple[ToolErrorType, ...] = (*NON_RETRYABLE_TOOL_ERRORS, ToolErrorType.INJECTED_FAILURE)
# How the agent loop reports a failed call to the model: refused, or unavailable for now.
TOOL_DENIALS: frozenset[ToolErrorType] = frozenset({ToolErrorType.DENIED, ToolErrorType.NOT_ENABLED})
TOOL_OUTAGES: frozenset[ToolErrorType] = frozenset({ToolErrorType.UNAVAILABLE, ToolErrorType.TRANSIENT})

NON_RETRYABLE_MODEL_ERRORS: tuple[ModelErrorType, ...] = (
    ModelErrorType.BAD_REQUEST,
    ModelErrorType.AUTHENTICATION_FAILED,
    ModelErrorType.NOT_FOUND,
    ModelErrorType.CONTENT_REJECTED,
)
NON_RETRYABLE_LIFECYCLE_ERRORS: tuple[LifecycleErrorType, ...] = tuple(LifecycleErrorType)
# Residency refusals fail an activity at its first attempt whatever its retry policy says: the activity
# interceptor `core.failure_types.FailFastInterceptor` raises them as non-retryable application errors.
NON_RETRYABLE_RESIDENCY_ERRORS: tuple[ResidencyErrorType, ...] = tuple(ResidencyErrorType)
# Every failure type an exception may declare (`failure_type`) to fail its activity at once.
FAIL_FAST_ERRORS: frozenset[str] = frozenset(NON_RETRYABLE_RESIDENCY_ERRORS)


def type_names(types: tuple[StrEnum, ...]) -> list[str]:
    """Plain strings, as a `RetryPolicy` sends them to the server."""
    return [str(t) for t in types]


# ---- domain errors that fail a workflow run ------------------------------------------------------------
# Registered as workflow failure exception types in the `core` Temporal plugin: a plain exception in
# workflow code would retry the workflow task forever.


class ConversationError(Exception):
    """A conversation cannot go on: the run fails with this as its cause."""


class InvalidConversationInput(ConversationError):
    """The run was started with input that no turn can use."""


class TenantLifecycleError(Exception):
    """Offboarding cannot go on: the run fails with this as its cause instead of retrying its task."""


class InvalidLifecycleInput(TenantLifecycleError):
    """The run was started with input no offboarding can use."""


class TenantGone(TenantLifecycleError):
    """The tenant does not exist, or is not offboarding where the next step needs it to be."""


WORKFLOW_FAILURE_TYPES: tuple[type[BaseException], ...] = (ConversationError, TenantLifecycleError)
