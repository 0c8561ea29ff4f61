"""The deterministic graders: tool calls, final world state, answer checks, and the task's overall verdict.

Every grader is a pure function of the task and the observation, so a verdict never depends on the order
tasks ran in, the time, or a network: the same observation always grades the same. Expectations name records
by reference (`{order:ada.placed}`); they are resolved with the observation's `refs` before comparing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from contracts.eval_runs import Observation, ObservedCall
from contracts.evals import AnswerCheck, GoldenTask, ToolCallExpectation, ToolExpectations, Verdict, WorldExpectations
from contracts.evals import resolve as resolve_refs


def _norm(value: Any) -> Any:
    # Ids compare case-insensitively, as the tools look them up; numbers compare by value.
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def call_matches(expected: ToolCallExpectation, call: ObservedCall, refs: dict[str, str]) -> bool:
    """The call is the expected tool, carries every expected argument with its value, and has its status."""
    if expected.tool != call.tool:
        return False
    if expected.status and expected.status != call.status:
        return False
    wanted = resolve_refs(expected.args, refs)
    if not all(key in call.arguments and _norm(call.arguments[key]) == _norm(v) for key, v in wanted.items()):
        return False
    return all(
        isinstance(call.arguments.get(key), str) and all(t.casefold() in call.arguments[key].casefold() for t in terms)
        for key, terms in expected.args_contain.items()
    )


def _describe(expected: ToolCallExpectation) -> str:
    status = f" [{expected.status}]" if expected.status else ""
    contain = f" containing {json.dumps(expected.args_contain, sort_keys=True)}" if expected.args_contain else ""
    return f"{expected.tool}({json.dumps(expected.args, sort_keys=True)}){contain}{status}"


def grade_tools(expect: ToolExpectations, observation: Observation) -> Verdict:
    calls = observation.calls
    refs = observation.refs
    problems: list[str] = []
    used: set[int] = set()
    position = 0
    for expected in expect.calls:
        # Ordered: search from after the previous match. Unordered: any call not matched yet.
        start = position if expect.ordered else 0
        found = next(
            (i for i in range(start, len(calls)) if i not in used and call_matches(expected, calls[i], refs)), None
        )
        if found is None:
            problems.append(f"missing {'in order ' if expect.ordered else ''}{_describe(expected)}")
            continue
        used.add(found)
        position = found + 1
    if expect.exact:
        extra = [f"{c.tool}" for i, c in enumerate(calls) if i not in used]
        if extra:
            problems.append(f"unexpected calls: {', '.join(extra)}")
    ran = [c.tool for c in calls if c.status == "ok"]
    for tool in expect.forbidden:
        if tool in ran:
            problems.append(f"forbidden tool ran: {tool}")
    seen = ", ".join(f"{c.tool}[{c.status}]" for c in calls) or "no calls"
    return Verdict(grader="tools", passed=not problems, detail="; ".join(problems) or f"ok: {seen}")


def grade_world(expect: WorldExpectations, observation: Observation) -> Verdict:
    world = observation.world
    problems: list[str] = []
    for label, state in expect.orders.items():
        order = world.orders.get(label)
        if order is None:
            problems.append(f"order {label} not found")
            continue
        if state.status is not None and order.status != state.status:
            problems.append(f"order {label} is {order.status}, expected {state.status}")
        if state.refunded_cents is not None and order.refunded_cents != state.refunded_cents:
            problems.append(f"order {label} refunded {order.refunded_cents}, expected {state.refunded_cents}")
    for field in ("tickets_opened", "leads_captured", "orders_placed", "approvals_requested"):
        wanted = getattr(expect, field)
        if wanted is not None and getattr(world, field) != wanted:
            problems.append(f"{field} is {getattr(world, field)}, expected {wanted}")
    return Verdict(grader="world", passed=not problems, detail="; ".join(problems) or "ok")


def check_answer(check: AnswerCheck, answer: str, refs: dict[str, str]) -> Verdict:
    if check.contains is not None:
        needle = resolve_refs(check.contains, refs)
        return Verdict(grader="answer.contains", passed=needle in answer, detail=f"contains {needle!r}")
    if check.not_contains is not None:
        needle = resolve_refs(check.not_contains, refs)
        return Verdict(grader="answer.not_contains", passed=needle not in answer, detail=f"not contains {needle!r}")
    if check.regex is not None:
        pattern = resolve_refs(check.regex, refs)
        return Verdict(grader="answer.regex", passed=re.search(pattern, answer) is not None, detail=f"/{pattern}/")
    assert check.json_schema is not None
    try:
        document = json.loads(answer)
    except ValueError as exc:
        return Verdict(grader="answer.json_schema", passed=False, detail=f"not JSON: {exc}")
    try:
        jsonschema.validate(document, check.json_schema)
    except jsonschema.ValidationError as exc:
        return Verdict(grader="answer.json_schema", passed=False, detail=exc.message[:300])
    return Verdict(grader="answer.json_schema", passed=True, detail="valid")


def grade(task: GoldenTask, observation: Observation) -> list[Verdict]:
    """Every deterministic verdict on the task; the task passes when all of them pass."""
    if observation.error:
        return [Verdict(grader="run", passed=False, detail=observation.error[:500])]
    verdicts = [grade_tools(task.expect.tools, observation), grade_world(task.expect.world, observation)]
    verdicts += [check_answer(check, observation.final_answer, observation.refs) for check in task.expect.answer]
    return verdicts


def passed(verdicts: list[Verdict]) -> bool:
    """Every verdict that counts passed (a judge's may be reported only, `gating=False`)."""
    counted = [v for v in verdicts if v.gating]
    return bool(counted) and all(v.passed for v in counted)


# The deterministic suite on scripted models is exact: every task passes on a sound platform, so the gate asks
# for all of them. A broken agent (a tool dropped, a threshold flipped) fails at least the tasks that use it.
GATE_PASS_RATE = 1.0


def gate(passed_count: int, total: int, threshold: float = GATE_PASS_RATE) -> bool:
    """Whether a run clears the gate; a run without tasks never does."""
    return total > 0 and passed_count / total >= threshold
