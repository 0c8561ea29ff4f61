"""The agent loop of a recorded conversation: turns, each model call with what it was asked and what it
answered, and each tool call with its recorded result.

A model call's messages are not in history (the model activity reads them from Postgres by reference); they
are rebuilt from what history does hold, the way `agents.context` builds them: the agent definition the turn
resolved (`agents.resolve`, or inside `router.prepare_turn`), the customer's messages
(`conversation.record_user_message`, `submit_message`), the answers of earlier turns, and this turn's earlier
calls with their results (tool activities, saga child workflows, handoffs, and refusals decided in the
workflow, rebuilt by `evals.replay.gate`). A run that continued from another (continue-as-new) starts with a
transcript this history does not hold: noted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure

from contracts.agents import HANDOFF_TOOL, ResolvedAgent
from contracts.conversation import ConversationInput, ModelCallInput, ModelCallResult, QueuedMessage, ToolCallRequest
from contracts.errors import TOOL_DENIALS, TOOL_OUTAGES, ToolErrorType
from contracts.names import (
    ACT_MODEL_COMPLETE,
    ACT_PREPARE_TURN,
    ACT_RECORD_USER_MESSAGE,
    ACT_RESOLVE_AGENT,
    ACT_TURN_CUT,
)
from contracts.tool_calls import ToolCallInput, ToolCallResult, ToolStatus
from evals.replay import gate
from evals.replay.history import LoadedHistory, failure_message, first_value, innermost, value
from evals.replay.recorded import Conversation, ModelStep, RecordedCall, Turn
from workflows.agent_turn import MAX_CALLS_PER_STEP
from workflows.provenance import PROVENANCE_PATCH, TurnProvenance

_CALL_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LOCAL = "core_local_activity"
_PATCH = "core_patch"


def is_conversation(history: LoadedHistory) -> bool:
    return history.workflow_type == "ConversationWorkflow"


class _Walk:
    def __init__(self) -> None:
        self.messages: dict[str, str] = {}
        self.resolved: dict[str, ResolvedAgent] = {}
        self.steps: dict[int, ModelStep] = {}
        self.order: list[ModelStep] = []
        self.tool_keys: dict[int, tuple[str, int, str]] = {}
        self.tool_inputs: dict[tuple[str, int, str], ToolCallInput] = {}
        self.tool_results: dict[tuple[str, int, str], tuple[ToolCallResult, str]] = {}
        self.confirmations: list[bool] = []
        self.cut_messages: set[str] = set()
        self.provenance = False
        self.notes: list[str] = []


def extract(history: LoadedHistory) -> Conversation:
    """The conversation a `ConversationWorkflow` history recorded."""
    events = history.events
    started = events[0].workflow_execution_started_event_attributes
    conv = ConversationInput.model_validate(first_value(started.input))
    walk = _Walk()
    for queued in conv.pending:
        walk.messages.setdefault(queued.message_id, queued.content)
    if conv.turns_completed:
        walk.notes.append(
            f"continued from an earlier run after {conv.turns_completed} turns: that transcript is not in this "
            "history, so earlier turns are missing from the rebuilt context"
        )
    for event in events:
        _visit(walk, event)
    result = Conversation(history.source, history.workflow_id, conv, notes=walk.notes)
    turns: dict[str, Turn] = {}
    for step in walk.order:
        turn = turns.get(step.message_id)
        if turn is None:
            content = walk.messages.get(step.message_id, "")
            turn = turns[step.message_id] = Turn(step.message_id, content, provenance=walk.provenance)
            result.turns.append(turn)
        turn.steps.append(step)
    confirmations = iter(walk.confirmations)
    for turn in result.turns:
        turn.cut = turn.message_id in walk.cut_messages
        _attach_calls(turn, walk.tool_results, confirmations)
    return result


def _visit(walk: _Walk, event: Any) -> None:
    kind = event.event_type
    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        attrs = event.activity_task_scheduled_event_attributes
        name = attrs.activity_type.name
        raw = first_value(attrs.input)
        if name == ACT_RECORD_USER_MESSAGE and isinstance(raw, dict):
            walk.messages[str(raw.get("message_id"))] = str(raw.get("content") or "")
        elif name == ACT_MODEL_COMPLETE:
            inp = ModelCallInput.model_validate(raw)
            step = ModelStep(inp.message_id, inp.step, event.event_id, inp, walk.resolved.get(inp.agent))
            walk.steps[event.event_id] = step
            walk.order.append(step)
        elif name.startswith("tools."):
            _tool_started(walk, event.event_id, raw, "activity")
    elif kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        attrs = event.start_child_workflow_execution_initiated_event_attributes
        _tool_started(walk, event.event_id, first_value(attrs.input), "saga")
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        attrs = event.activity_task_completed_event_attributes
        _finished(walk, attrs.scheduled_event_id, first_value(attrs.result), None, "")
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        attrs = event.activity_task_failed_event_attributes
        _finished(walk, attrs.scheduled_event_id, None, attrs.failure, "failed")
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
        attrs = event.activity_task_timed_out_event_attributes
        _finished(walk, attrs.scheduled_event_id, None, attrs.failure, "timed out")
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
        _finished(walk, event.activity_task_canceled_event_attributes.scheduled_event_id, None, None, "cancelled")
    elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
        attrs = event.child_workflow_execution_completed_event_attributes
        _finished(walk, attrs.initiated_event_id, first_value(attrs.result), None, "")
    elif kind == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED:
        attrs = event.child_workflow_execution_failed_event_attributes
        _finished(walk, attrs.initiated_event_id, None, attrs.failure, "failed")
    elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
        _marker(walk, event.marker_recorded_event_attributes)
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request.input
        args = first_value(request.args)
        if request.name == "submit_message" and isinstance(args, dict):
            queued = QueuedMessage.model_validate(args)
            walk.messages.setdefault(queued.message_id, queued.content)
        elif request.name == "confirm_action" and isinstance(args, dict):
            walk.confirmations.append(bool(args.get("confirmed")))


def _tool_started(walk: _Walk, event_id: int, raw: Any, source: str) -> None:
    try:
        inp = ToolCallInput.model_validate(raw)
    except ValidationError:
        return  # a child workflow that is not a tool call
    key = (inp.message_id, inp.step, inp.call_id)
    walk.tool_keys[event_id] = key
    walk.tool_inputs[key] = inp
    walk.tool_results.setdefault(key, (_pending(inp), source))


def _pending(inp: ToolCallInput) -> ToolCallResult:
    return ToolCallResult(
        call_id=inp.call_id, tool=inp.tool, status=ToolStatus.UNAVAILABLE, error_type="NotFinished", message=""
    )


def _finished(walk: _Walk, scheduled: int, raw: Any, failure: Failure | None, how: str) -> None:
    step = walk.steps.get(scheduled)
    if step is not None:
        if raw is not None:
            step.output = ModelCallResult.model_validate(raw)
        else:
            inner = innermost(failure) if failure is not None else None
            kind = inner.application_failure_info.type if inner is not None else ""
            step.note = f"the recorded call {how}" + (f" ({kind})" if kind else "")
        return
    key = walk.tool_keys.get(scheduled)
    if key is None:
        return
    inp = walk.tool_inputs[key]
    source = walk.tool_results[key][1]
    result = ToolCallResult.model_validate(raw) if raw is not None else _failed(inp, failure, how)
    walk.tool_results[key] = (result, source)


def _failed(inp: ToolCallInput, failure: Failure | None, how: str) -> ToolCallResult:
    """What `workflows.tool_checks.failure_result` made of a tool that failed."""
    if failure is None:
        return ToolCallResult(call_id=inp.call_id, tool=inp.tool, status=ToolStatus.ERROR, error_type=how)
    inner = innermost(failure)
    if inner.HasField("timeout_failure_info") or how == "timed out":
        return ToolCallResult(
            call_id=inp.call_id,
            tool=inp.tool,
            status=ToolStatus.UNAVAILABLE,
            error_type=ToolErrorType.TIMEOUT,
            message="the tool did not answer in time",
        )
    info = inner.application_failure_info
    details = list(info.details.payloads)
    if details:
        # A failure whose details are a tool result (the runtime's refusals) is that result; any other
        # failure is read from its type below.
        with suppress(ValidationError):
            reported = ToolCallResult.model_validate(value(details[0]))
            return reported.model_copy(update={"call_id": inp.call_id})
    error_type = info.type or ToolErrorType.ERROR
    status = ToolStatus.ERROR
    if error_type in TOOL_DENIALS:
        status = ToolStatus.DENIED
    elif error_type in TOOL_OUTAGES:
        status = ToolStatus.UNAVAILABLE
    message = failure_message(inner)[:1000]
    return ToolCallResult(call_id=inp.call_id, tool=inp.tool, status=status, error_type=error_type, message=message)


def _marker(walk: _Walk, attrs: Any) -> None:
    if attrs.marker_name == _PATCH:
        patch = first_value(attrs.details["patch-data"]) if "patch-data" in attrs.details else None
        if isinstance(patch, dict) and patch.get("id") == PROVENANCE_PATCH:
            walk.provenance = True
        return
    if attrs.marker_name != _LOCAL or "data" not in attrs.details:
        return
    data = first_value(attrs.details["data"]) or {}
    kind = data.get("activity_type")
    result = first_value(attrs.details["result"]) if "result" in attrs.details else None
    if kind == ACT_PREPARE_TURN and isinstance(result, dict):
        # From the `turn-steps` patch on, a run's first turn resolves its agent in its preparation.
        result = result.get("resolved")
        kind = ACT_RESOLVE_AGENT
    if kind == ACT_RESOLVE_AGENT and isinstance(result, dict):
        resolved = ResolvedAgent.model_validate(result)
        walk.resolved[resolved.definition.name] = resolved
    elif kind == ACT_TURN_CUT and walk.order:
        walk.cut_messages.add(walk.order[-1].message_id)


def ordered_calls(step: int, requested: list[ToolCallRequest], seen: set[str]) -> list[tuple[int, ToolCallRequest]]:
    """The calls as the workflow ran them: ids checked (`AgentTurn._checked_ids`), tools before the handoff,
    each with the index its row gets; calls past the per-step ceiling were refused and are left out."""
    checked = []
    for index, call in enumerate(requested):
        call_id = call.call_id
        if not _CALL_ID.fullmatch(call_id) or call_id in seen:
            call_id = f"call-{step}-{index}"
            while call_id in seen:
                call_id += "-r"
        seen.add(call_id)
        checked.append(call if call_id == call.call_id else call.model_copy(update={"call_id": call_id}))
    allowed = checked[:MAX_CALLS_PER_STEP]
    tools = [c for c in allowed if c.tool != HANDOFF_TOOL]
    handoffs = [c for c in allowed if c.tool == HANDOFF_TOOL]
    return list(enumerate(tools + handoffs))


def _attach_calls(
    turn: Turn,
    executed: dict[tuple[str, int, str], tuple[ToolCallResult, str]],
    confirmations: Iterator[bool],
) -> None:
    seen: set[str] = set()
    first = next((s.resolved for s in turn.steps if s.resolved is not None), None)
    provenance = TurnProvenance(turn.content, first.definition.system_prompt) if turn.provenance and first else None
    for step in turn.steps:
        if step.output is None or step.resolved is None:
            continue
        handed = False
        for index, call in ordered_calls(step.step, step.output.tool_calls, seen):
            outcome = gate.check(call, step.resolved, provenance)
            spec = step.resolved.tool(call.tool)
            key = (step.message_id, step.step, call.call_id)
            if key in executed:
                result, source = executed[key]
            elif call.tool == HANDOFF_TOOL:
                source = "handoff"
                if outcome.verdict == "run" and not handed:
                    handed = True
                    target = str(call.arguments.get("target"))
                    result = ToolCallResult(
                        call_id=call.call_id, tool=call.tool, status=ToolStatus.OK, output={"agent": target}
                    )
                else:
                    result = gate.refused_result(call, outcome)
            else:
                source = "workflow"
                confirmed = next(confirmations, None) if outcome.verdict == "confirm" else None
                result = gate.refused_result(call, outcome, confirmed)
            step.calls.append(RecordedCall(call, result, source, outcome, index, spec.version if spec else 1))
            if provenance is not None and call.tool != HANDOFF_TOOL:
                provenance.observe(call, spec, result)
