"""The deterministic graders on hand-made observations: each expectation kind passes when met and fails with
a reason when not, and a verdict never depends on anything but the task and the observation."""

from __future__ import annotations

from contracts.eval_runs import Observation, ObservedCall, ObservedOrder, ObservedTurn, ObservedWorld
from contracts.evals import (
    AnswerCheck,
    Expectations,
    GoldenTask,
    OrderState,
    ToolCallExpectation,
    ToolExpectations,
    WorldExpectations,
)
from grading.graders import check_answer, grade, grade_tools, grade_world, passed

REFS = {"order:ada.placed": "A-1", "order:ada.shipped": "A-2"}


def _obs(*calls: ObservedCall, answer: str = "done: orders.cancel=ok", **world: object) -> Observation:
    return Observation(
        turns=[ObservedTurn(user="cancel A-1", answer=answer, calls=list(calls))],
        world=ObservedWorld(**world),  # type: ignore[arg-type]
        refs=REFS,
    )


def _call(tool: str, status: str = "ok", **args: object) -> ObservedCall:
    return ObservedCall(tool=tool, arguments=args, status=status)


def _expect(tool: str, status: str = "", **args: object) -> ToolCallExpectation:
    return ToolCallExpectation(tool=tool, args=args, status=status)


def test_tool_calls_match_by_name_reference_resolved_arguments_and_status() -> None:
    obs = _obs(_call("orders.cancel", order_id="a-1", reason="x"))
    assert grade_tools(
        ToolExpectations(calls=[_expect("orders.cancel", "ok", order_id="{order:ada.placed}")]), obs
    ).passed
    wrong_order = grade_tools(ToolExpectations(calls=[_expect("orders.cancel", order_id="{order:ada.shipped}")]), obs)
    assert not wrong_order.passed and "missing orders.cancel" in wrong_order.detail
    wrong_status = grade_tools(ToolExpectations(calls=[_expect("orders.cancel", "denied")]), obs)
    assert not wrong_status.passed


def test_order_matters_only_when_flagged_and_exact_refuses_extra_calls() -> None:
    obs = _obs(_call("orders.lookup", order_id="A-1"), _call("orders.cancel", order_id="A-1"))
    backwards = [_expect("orders.cancel"), _expect("orders.lookup")]
    assert grade_tools(ToolExpectations(calls=backwards), obs).passed
    assert not grade_tools(ToolExpectations(calls=backwards, ordered=True), obs).passed
    assert grade_tools(ToolExpectations(calls=list(reversed(backwards)), ordered=True), obs).passed
    only_cancel = grade_tools(ToolExpectations(calls=[_expect("orders.cancel")], exact=True), obs)
    assert not only_cancel.passed and "unexpected calls: orders.lookup" in only_cancel.detail
    # One observed call satisfies one expectation: two expected lookups need two calls.
    assert not grade_tools(ToolExpectations(calls=[_expect("orders.lookup"), _expect("orders.lookup")]), obs).passed


def test_a_forbidden_tool_fails_only_when_it_ran() -> None:
    refused = _obs(_call("orders.refund", "denied"))
    assert grade_tools(ToolExpectations(forbidden=["orders.refund"]), refused).passed
    ran = grade_tools(ToolExpectations(forbidden=["orders.refund"]), _obs(_call("orders.refund")))
    assert not ran.passed and "forbidden tool ran: orders.refund" in ran.detail


def test_world_state_compares_only_what_is_expected() -> None:
    obs = _obs(orders={"ada.placed": ObservedOrder(status="cancelled", refunded_cents=5500)}, tickets_opened=1)
    assert grade_world(WorldExpectations(orders={"ada.placed": OrderState(status="cancelled")}), obs).passed
    verdict = grade_world(
        WorldExpectations(orders={"ada.placed": OrderState(refunded_cents=0)}, tickets_opened=0, leads_captured=0), obs
    )
    assert not verdict.passed
    assert "refunded 5500, expected 0" in verdict.detail and "tickets_opened is 1, expected 0" in verdict.detail
    assert "not found" in grade_world(WorldExpectations(orders={"bob.placed": OrderState()}), obs).detail


def test_answer_checks() -> None:
    answer = '{"needs": ["name"], "next": "capture"}'
    schema = {"type": "object", "required": ["needs", "next"], "properties": {"needs": {"type": "array"}}}
    assert check_answer(AnswerCheck(json_schema=schema), answer, REFS).passed
    missing = check_answer(AnswerCheck(json_schema={**schema, "required": ["budget"]}), answer, REFS)
    assert not missing.passed and "budget" in missing.detail
    assert not check_answer(AnswerCheck(json_schema=schema), "not json", REFS).passed
    assert check_answer(AnswerCheck(contains="{order:ada.placed}"), "order A-1 is placed", REFS).passed
    assert not check_answer(AnswerCheck(not_contains="{order:ada.placed}"), "order A-1", REFS).passed
    assert check_answer(AnswerCheck(regex=r"^done: \w+"), "done: x", REFS).passed
    assert not check_answer(AnswerCheck(regex=r"^done"), "not done", REFS).passed


def _task(**expect: object) -> GoldenTask:
    return GoldenTask.model_validate(
        {"id": "t.cancel", "agent": "orders", "customer": "ada", "turns": [{"text": "cancel"}], "expect": expect}
    )


def test_a_task_passes_only_when_every_verdict_does_and_a_run_error_fails_it() -> None:
    task = _task(
        tools={"calls": [{"tool": "orders.cancel", "args": {"order_id": "{order:ada.placed}"}}]},
        world={"orders": {"ada.placed": {"status": "cancelled"}}},
        answer=[{"contains": "done: orders.cancel=ok"}],
    )
    good = _obs(_call("orders.cancel", order_id="A-1"), orders={"ada.placed": ObservedOrder(status="cancelled")})
    verdicts = grade(task, good)
    assert [v.grader for v in verdicts] == ["tools", "world", "answer.contains"] and passed(verdicts)
    # The same observation graded twice, or after other tasks, gives the same verdicts.
    assert grade(task, good) == verdicts
    still_placed = good.model_copy(
        update={"world": ObservedWorld(orders={"ada.placed": ObservedOrder(status="placed")})}
    )
    assert not passed(grade(task, still_placed))
    failed_run = good.model_copy(update={"error": "ActivityError: boom"})
    assert [(v.grader, v.passed) for v in grade(task, failed_run)] == [("run", False)]
    assert not passed([])


def test_expectations_default_to_nothing_required() -> None:
    assert Expectations() == Expectations(tools=ToolExpectations(), world=WorldExpectations(), answer=[])


def test_compare_pairs_tasks_and_its_interval_is_seeded() -> None:
    from grading.compare import compare, render

    a = {f"t{i}": True for i in range(40)}
    b = dict(a) | {f"t{i}": False for i in range(10)} | {"new": True}
    first = compare(a, b, seed=7)
    assert first == compare(dict(reversed(list(a.items()))), b, seed=7)
    assert first.paired == 40 and first.rate_a == 1.0 and first.rate_b == 0.75
    assert first.low <= first.delta <= first.high < 0 and first.significant
    assert [c.task_id for c in first.changes if c.kind == "broken"] == [f"t{i}" for i in range(10)]
    assert first.only_b == ["new"]
    text = render(first, "A", "B")
    assert "100.0% -> B 75.0%" in text and "broken  t3" in text
    same = compare(a, a)
    assert (same.low, same.high, same.significant, same.changes) == (0.0, 0.0, False, [])
