"""Loop safety: every reason to cut a turn, and the progress that must not be cut."""

from __future__ import annotations

import pytest

from contracts.agents import CutReason, LoopLimits
from policies.loop_safety import LoopGuard, find_cycle, step_state


def _call(tool: str, result: str, **arguments: object) -> tuple[str, dict[str, object], str]:
    return (tool, dict(arguments), result)


def _guard(**limits: object) -> LoopGuard:
    return LoopGuard(LoopLimits(**limits))  # type: ignore[arg-type]


def _steps(guard: LoopGuard, states: list[str]) -> list[CutReason | None]:
    """Runs one step per state label (a lookup whose result is the label); the guard's answers in order."""
    answers = []
    for label in states:
        cut = guard.before_step()
        answers.append(cut or guard.after_step([_call("orders.lookup", f"r-{label}", order_id=label)]))
    return answers


def test_max_steps_per_turn_counts_every_step() -> None:
    guard = _guard(max_steps_per_turn=3)
    assert [guard.before_step() for _ in range(3)] == [None, None, None]
    assert guard.steps_this_turn == 3
    assert guard.before_step() is CutReason.MAX_STEPS_TURN
    assert guard.steps_this_turn == 3 and "3 steps" in guard.detail
    # A cut is sticky: the guard never lets the turn continue after it.
    assert guard.after_step([_call("orders.lookup", "x")]) is CutReason.MAX_STEPS_TURN


def test_adopted_limits_apply_to_what_the_turn_already_used() -> None:
    guard = _guard(max_steps_per_turn=8, max_tokens_per_turn=10_000)
    assert _steps(guard, ["a", "b"]) == [None, None]
    assert guard.add_usage(900, 0.01) is None
    # A handoff to a stricter agent: its ceilings, the turn's two steps and 900 tokens so far.
    guard.adopt(LoopLimits(max_steps_per_turn=3, max_tokens_per_turn=1000))
    assert guard.limits.max_steps_per_turn == 3
    assert guard.before_step() is None
    assert guard.add_usage(200, 0.0) is CutReason.TOKEN_CEILING
    assert guard.tokens_this_turn == 1100 and guard.steps_this_turn == 3


def test_max_steps_per_conversation_carries_the_total_over_turns() -> None:
    guard = LoopGuard(LoopLimits(max_steps_per_conversation=10), steps_total=9)
    assert guard.before_step() is None
    assert guard.steps_total == 10
    assert guard.before_step() is CutReason.MAX_STEPS_CONVERSATION
    assert guard.reason is CutReason.MAX_STEPS_CONVERSATION
    fresh_turn = LoopGuard(LoopLimits(max_steps_per_conversation=10), steps_total=10)
    assert fresh_turn.before_step() is CutReason.MAX_STEPS_CONVERSATION
    assert fresh_turn.steps_this_turn == 0


def test_the_same_call_and_result_repeated_is_no_progress() -> None:
    guard = _guard(no_progress_repeats=3, max_steps_per_turn=20)
    answers = _steps(guard, ["a", "a"])
    assert answers == [None, None]
    assert _steps(guard, ["a"]) == [CutReason.NO_PROGRESS]
    assert "same results 3 times" in guard.detail and "orders.lookup" in guard.detail


def test_distinct_progress_is_never_cut() -> None:
    guard = _guard(max_steps_per_turn=20, oscillation_window=8)
    assert _steps(guard, [str(i) for i in range(12)]) == [None] * 12
    assert guard.reason is None and guard.detail == ""


def test_same_call_with_a_different_result_is_progress() -> None:
    guard = _guard(no_progress_repeats=2, max_steps_per_turn=20)
    for attempt in range(5):
        assert guard.before_step() is None
        # Polling a shipment whose status changes each time: same tool and arguments, new result.
        assert guard.after_step([_call("shipments.track", f"status-{attempt}", order_id="o1")]) is None


def test_consecutive_failing_steps_are_no_progress() -> None:
    guard = _guard(no_progress_repeats=3, max_steps_per_turn=20)
    for i in range(2):
        assert guard.before_step() is None
        assert guard.after_step([_call("orders.refund", f"err-{i}", order_id=str(i))], failed=True) is None
    assert guard.before_step() is None
    assert guard.after_step([_call("orders.refund", "err-2", order_id="2")], failed=True) is CutReason.NO_PROGRESS
    assert "3 steps in a row failed" in guard.detail


def test_a_success_resets_the_failure_streak() -> None:
    guard = _guard(no_progress_repeats=3, max_steps_per_turn=20)
    outcomes = [True, True, False, True, True, False]
    for i, failed in enumerate(outcomes):
        assert guard.before_step() is None
        assert guard.after_step([_call("orders.refund", f"r-{i}", n=i)], failed=failed) is None


def test_ab_ab_is_oscillation() -> None:
    guard = _guard(max_steps_per_turn=20, oscillation_window=8)
    assert _steps(guard, ["a", "b", "a"]) == [None, None, None]
    assert _steps(guard, ["b"]) == [CutReason.OSCILLATION]
    assert "cycle of 2 steps" in guard.detail


def test_abcd_is_not_oscillation_but_abcabc_is() -> None:
    assert _steps(_guard(max_steps_per_turn=20), ["a", "b", "c", "d"]) == [None] * 4
    guard = _guard(max_steps_per_turn=20, oscillation_window=8)
    assert _steps(guard, ["a", "b", "c", "a", "b"]) == [None] * 5
    assert _steps(guard, ["c"]) == [CutReason.OSCILLATION]
    assert "cycle of 3 steps" in guard.detail


def test_cycles_longer_than_half_the_window_are_not_looked_for() -> None:
    # Period 3 needs 6 states; a window of 5 only holds period 2 cycles.
    guard = _guard(max_steps_per_turn=20, oscillation_window=5, no_progress_repeats=10)
    assert _steps(guard, ["a", "b", "c", "a", "b", "c"]) == [None] * 6


def test_find_cycle_needs_two_distinct_states() -> None:
    assert find_cycle(["a", "a", "a", "a"], 8) is None
    assert find_cycle(["x", "a", "b", "a", "b"], 8) == 2
    assert find_cycle(["a", "b", "a", "c"], 8) is None


def test_a_steps_state_ignores_call_order_but_not_arguments_or_results() -> None:
    one = _call("orders.lookup", "r1", order_id="1")
    two = _call("inventory.check", "r2", sku="s")
    assert step_state([one, two]) == step_state([two, one])
    assert step_state([one]) != step_state([_call("orders.lookup", "r1", order_id="2")])
    assert step_state([one]) != step_state([_call("orders.lookup", "r9", order_id="1")])


def test_a_step_without_calls_is_not_a_state() -> None:
    guard = _guard(no_progress_repeats=2)
    for _ in range(3):
        assert guard.before_step() is None
        assert guard.after_step([]) is None


@pytest.mark.parametrize(
    ("tokens", "cost", "reason"),
    [(1001, 0.0, CutReason.TOKEN_CEILING), (10, 0.51, CutReason.COST_CEILING), (1000, 0.5, None)],
)
def test_token_and_cost_ceilings(tokens: int, cost: float, reason: CutReason | None) -> None:
    guard = _guard(max_tokens_per_turn=1000, max_cost_usd_per_turn=0.5)
    assert guard.add_usage(tokens // 2, cost / 2) is None
    assert guard.add_usage(tokens - tokens // 2, cost / 2) is reason
    assert guard.tokens_this_turn == tokens
    if reason is not None:
        assert guard.detail and guard.before_step() is reason


def test_same_inputs_same_decisions() -> None:
    """Deterministic: a replayed workflow must take exactly the decisions the original run took."""
    labels = ["a", "b", "c", "b", "c", "d", "a"]
    first = _steps(_guard(max_steps_per_turn=20), labels)
    second = _steps(_guard(max_steps_per_turn=20), labels)
    assert first == second and CutReason.OSCILLATION in first
