"""The checks and outcomes of a model's tool calls that need no workflow: pure functions of the call.

`workflows.tool_runner.ToolRunner` refuses a call with `refusal` and checks its arguments with
`argument_problem` before anything runs, and reads a failed activity or saga with `failure_result`. The
same functions rebuild those decisions outside a workflow (`evals.replay.gate`, `evals.injection`), so a
replayed or injected call is judged exactly as a live one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from contracts.agents import Effect, ToolSpec
    from contracts.conversation import ToolCallRequest
    from contracts.errors import TOOL_DENIALS, TOOL_OUTAGES, ToolErrorType
    from contracts.tool_calls import ToolCallResult, ToolStatus

_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def refusal(call: ToolCallRequest, status: ToolStatus, error_type: str, message: str) -> ToolCallResult:
    return ToolCallResult(call_id=call.call_id, tool=call.tool, status=status, error_type=error_type, message=message)


def argument_problem(spec: ToolSpec, arguments: dict[str, Any]) -> str | None:
    """What is wrong with the arguments as far as the schema's top level tells; the tool validates fully."""
    if "_invalid_json" in arguments:
        return "the arguments are not valid JSON"
    schema = spec.input_schema or {}
    properties: dict[str, Any] = schema.get("properties") or {}
    missing = [name for name in schema.get("required") or [] if name not in arguments]
    if missing:
        return f"missing required arguments: {', '.join(sorted(missing))}"
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(arguments) - set(properties))
        if unknown:
            return f"unknown arguments: {', '.join(unknown)}"
    for name, value in arguments.items():
        expected = (properties.get(name) or {}).get("type")
        check = _JSON_TYPES.get(expected) if isinstance(expected, str) else None
        if check is not None and not check(value):
            return f"argument {name!r} must be of type {expected}"
    return None


def failure_result(call: ToolCallRequest, err: ActivityError | ChildWorkflowError) -> tuple[ToolCallResult, bool]:
    """The call's result after its activity or saga failed, and whether the tool runtime recorded it already.

    The runtime records and announces every refusal it raises (non-retryable errors, whose first detail is
    the call's result); anything else (a timeout, retries spent, a saga that failed) is recorded here.
    Recording twice is harmless: rows are upserted and announcements deduplicated.
    """
    cause = err.cause
    if isinstance(cause, TemporalTimeoutError):
        return refusal(call, ToolStatus.UNAVAILABLE, ToolErrorType.TIMEOUT, "the tool did not answer in time"), False
    if not isinstance(cause, ApplicationError):
        return refusal(call, ToolStatus.ERROR, type(cause).__name__, str(cause)[:1000] or "the tool failed"), False
    error_type = cause.type or ToolErrorType.ERROR
    reported = _reported_result(cause)
    if reported is not None:
        result = reported.model_copy(update={"call_id": call.call_id})
    else:
        status = ToolStatus.ERROR
        if error_type in TOOL_DENIALS:
            status = ToolStatus.DENIED
        elif error_type in TOOL_OUTAGES:
            status = ToolStatus.UNAVAILABLE
        result = refusal(call, status, error_type, cause.message[:1000])
    return result, isinstance(err, ActivityError) and cause.non_retryable and reported is not None


def _reported_result(cause: ApplicationError) -> ToolCallResult | None:
    details = cause.details
    if not details or not isinstance(details[0], dict):
        return None
    try:
        return ToolCallResult.model_validate(details[0])
    except ValueError:
        return None


def is_read(spec: ToolSpec | None) -> bool:
    """A call that may run beside others and be cut short: a plain read, with no approval and no saga."""
    return spec is not None and spec.effect == Effect.READ and spec.approval is None and not spec.saga
