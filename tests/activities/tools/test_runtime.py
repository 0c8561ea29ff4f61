"""The tool runtime on a real Temporal server, Postgres and Redis: checks, retries, idempotency, events, rows."""

# Fixtures come in by import (parameters then shadow the imported names).
# ruff: noqa: F811

from __future__ import annotations

from collections import Counter

import pytest

from agents.enablement import set_enabled
from agents.steps import turn_steps
from contracts.tool_calls import ToolCallInput, idempotency_key
from core.events import Event
from tests.activities.tools.runtime_fixtures import LEDGER, ToolHarness, harness, redis  # noqa: F401


def _types(events: list[Event]) -> Counter[str]:
    return Counter(event.type for event in events)


async def _steps(harness: ToolHarness, call: ToolCallInput) -> list:  # type: ignore[type-arg]
    async with harness.db.tenant_session(harness.tenant_id) as session:
        return await turn_steps(session, call.message_id)


async def test_a_call_runs_and_is_recorded_and_announced(harness: ToolHarness) -> None:
    call = harness.call("tests.echo", {"text": "ab", "times": 2}, step=3, call_index=1)
    outcome = await harness.run(call)
    assert outcome.result is not None
    assert (outcome.result.status, outcome.result.output) == ("ok", {"text": "abab"})
    events = await harness.events(call)
    assert [e.type for e in events] == ["tool.started", "tool.completed"]
    assert events[0].data == {
        "call_id": call.call_id,
        "tool": "tests.echo",
        "version": 1,
        "attempt": 1,
        "message_id": call.message_id,
    }
    assert events[1].data["call_id"] == call.call_id and "abab" in events[1].data["summary"]
    [row] = await _steps(harness, call)
    assert (row.step, row.call_index, row.tool, row.status, row.output) == (3, 1, "tests.echo", "ok", {"text": "abab"})
    assert row.arguments == {"text": "ab", "times": 2}


@pytest.mark.breaker_threshold(5)
async def test_a_transient_failure_is_retried_with_the_same_key_and_takes_effect_once(harness: ToolHarness) -> None:
    call = harness.call("tests.flaky", {"failures": 2})
    outcome = await harness.run(call)
    assert outcome.result is not None and outcome.result.output == {"effects": 1}
    seen = LEDGER[call.call_id]
    assert seen.attempts == [1, 2, 3]
    assert len(set(seen.keys)) == 1 and len(seen.effects) == 1
    counts = _types(await harness.events(call))
    assert counts == {"tool.started": 3, "tool.completed": 1}
    [row] = await _steps(harness, call)
    assert (row.status, row.attempts) == ("ok", 3)


async def test_the_idempotency_key_is_the_workflows_when_given(harness: ToolHarness) -> None:
    given = harness.call("tests.flaky", {"failures": 1}, idempotency_key="key-from-the-workflow")
    assert (await harness.run(given)).result is not None
    assert set(LEDGER[given.call_id].keys) == {"key-from-the-workflow"}
    # Without one, it derives from the workflow and the call: different for two calls of one workflow run.
    first, second = harness.call("tests.echo", {"text": "x"}), harness.call("tests.echo", {"text": "x"})
    await harness.run(first)
    await harness.run(second)
    [key_one], [key_two] = LEDGER[first.call_id].keys, LEDGER[second.call_id].keys
    assert key_one != key_two and len(key_one) == len(idempotency_key("w", "c")) == 64


async def test_a_denied_call_is_tried_once_and_announced_once(harness: ToolHarness) -> None:
    call = harness.call("tests.deny", {"order_id": "o-17"})
    outcome = await harness.run(call)
    assert (outcome.error_type, outcome.non_retryable) == ("ToolDenied", True)
    assert outcome.message == "that order belongs to another customer"
    result, extra = outcome.details
    assert (result["status"], result["error_type"], result["call_id"]) == ("denied", "ToolDenied", call.call_id)
    assert extra == {"details": {"order_id": "o-17"}}
    assert LEDGER[call.call_id].attempts == [1]
    events = await harness.events(call)
    assert _types(events) == {"tool.started": 1, "tool.failed": 1}
    failed = next(e for e in events if e.type == "tool.failed")
    assert (failed.data["status"], failed.data["error_type"]) == ("denied", "ToolDenied")
    [row] = await _steps(harness, call)
    assert (row.status, row.error_type) == ("denied", "ToolDenied")


async def test_invalid_arguments_are_refused_without_running_or_retrying(harness: ToolHarness) -> None:
    call = harness.call("tests.echo", {"text": "secret-value-" * 10, "times": 9, "extra": 1})
    outcome = await harness.run(call)
    assert (outcome.error_type, outcome.non_retryable) == ("ToolInputInvalid", True)
    errors = outcome.details[1]["errors"]
    assert {tuple(e["loc"]) for e in errors} == {("text",), ("times",)}
    assert "secret-value" not in str(outcome.details) and "Traceback" not in str(outcome.details)
    assert call.call_id not in LEDGER
    assert _types(await harness.events(call)) == {"tool.failed": 1}
    [row] = await _steps(harness, call)
    assert (row.status, row.error_type, row.attempts) == ("error", "ToolInputInvalid", 1)


async def test_a_disabled_tool_is_refused_until_enabled_again(harness: ToolHarness) -> None:
    async with harness.db.tenant_session(harness.tenant_id) as session:
        await set_enabled(session, harness.tenant_id, "tests.echo", False)
    await harness.runtime.enablement.invalidate(harness.tenant_id)
    call = harness.call("tests.echo", {"text": "x"})
    outcome = await harness.run(call)
    assert (outcome.error_type, outcome.non_retryable) == ("ToolNotEnabled", True)
    assert call.call_id not in LEDGER
    [row] = await _steps(harness, call)
    assert row.status == "denied"

    async with harness.db.tenant_session(harness.tenant_id) as session:
        assert await set_enabled(session, harness.tenant_id, "tests.echo", True) is False
    await harness.runtime.enablement.invalidate(harness.tenant_id)
    again = harness.call("tests.echo", {"text": "x"})
    assert (await harness.run(again)).result is not None


async def test_a_call_naming_another_tool_is_refused(harness: ToolHarness) -> None:
    call = harness.call("tests.flaky", {"failures": 0})
    outcome = await harness.run(call, activity="tools.tests.echo.v1")
    assert (outcome.error_type, outcome.non_retryable) == ("ToolMismatch", True)
    assert call.call_id not in LEDGER


async def test_a_crash_says_nothing_of_its_cause(harness: ToolHarness) -> None:
    call = harness.call("tests.crash", {"order_id": "o-1"})
    outcome = await harness.run(call)
    assert (outcome.error_type, outcome.non_retryable) == ("ToolCrashed", False)
    assert "hunter2" not in outcome.message and "hunter2" not in str(outcome.details)
    # Its only attempt was its last: the outcome is recorded and announced as a failure.
    [row] = await _steps(harness, call)
    assert (row.status, row.error_type) == ("error", "ToolCrashed")
    assert _types(await harness.events(call)) == {"tool.started": 1, "tool.failed": 1}
