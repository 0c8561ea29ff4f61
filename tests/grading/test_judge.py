"""The LLM judge's mechanics on a scripted judge: repeats and their spread, both orders of a pairwise
comparison, recordings replayed without asking anyone, and agreement with hand labels."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from grading.judge import (
    JudgeError,
    Messages,
    RecordedJudge,
    ScriptedJudge,
    agreement,
    judge_pairwise,
    judge_rubric,
)


def _scores(*values: int) -> ScriptedJudge:
    answers = itertools.cycle(values)
    return ScriptedJudge(lambda _m: json.dumps({"score": next(answers), "reason": "because"}))


async def test_a_rubric_verdict_is_the_median_of_its_repeats_with_their_spread() -> None:
    result = await judge_rubric(_scores(5, 2, 4), "polite", "customer: hi\nagent: hello", repeats=3)
    assert (result.scores, result.score, result.spread, result.passed) == ([5, 2, 4], 4.0, 3.0, True)
    steady = await judge_rubric(_scores(3), "polite", "x", repeats=5)
    assert (steady.score, steady.spread, steady.passed) == (3.0, 0.0, False)


async def test_an_answer_that_is_not_a_verdict_is_an_error() -> None:
    with pytest.raises(JudgeError, match="not a RubricVerdict"):
        await judge_rubric(ScriptedJudge(lambda _m: "I'd say 4/5"), "polite", "x", repeats=1)
    with pytest.raises(JudgeError):
        await judge_rubric(ScriptedJudge(lambda _m: '{"score": 9}'), "polite", "x", repeats=1)


def _prefers(text: str) -> ScriptedJudge:
    """Prefers the conversation holding `text`, wherever it stands."""

    def answer(messages: Messages) -> str:
        prompt = messages[-1]["content"]
        first = prompt.split("First:\n", 1)[1].split("\n\nSecond:\n", 1)[0]
        return json.dumps({"better": "first" if text in first else "second"})

    return ScriptedJudge(answer)


async def test_pairwise_asks_both_orders_and_a_position_bias_is_no_winner() -> None:
    fair = await judge_pairwise(_prefers("refunded"), "resolves it", "agent: refunded", "agent: no", repeats=2)
    assert (fair.better, fair.consistent, fair.votes) == ("a", True, ["a", "a", "a", "a"])
    flipped = await judge_pairwise(_prefers("refunded"), "resolves it", "agent: no", "agent: refunded")
    assert flipped.better == "b"
    # A judge that always picks the first position agrees with itself on nothing once the order swaps.
    biased = ScriptedJudge(lambda _m: json.dumps({"better": "first"}))
    result = await judge_pairwise(biased, "resolves it", "agent: refunded", "agent: no")
    assert (result.better, result.consistent, result.votes) == ("tie", False, ["a", "b"])


async def test_recorded_verdicts_replay_without_the_judge(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    live = RecordedJudge(path, _scores(4, 5, 3), record=True)
    recorded = await judge_rubric(live, "polite", "agent: hello", repeats=3)
    assert len(path.read_text().splitlines()) == 3
    # Replaying: same prompts, same answers in the same order, and no judge to ask.
    replayed = await judge_rubric(RecordedJudge(path, model="scripted/judge"), "polite", "agent: hello", repeats=3)
    assert replayed == recorded
    with pytest.raises(JudgeError, match="no recorded verdict"):
        await judge_rubric(RecordedJudge(path, model="scripted/judge"), "polite", "agent: other", repeats=1)
    with pytest.raises(JudgeError, match="no recorded verdict"):
        await judge_rubric(RecordedJudge(path, model="another/model"), "polite", "agent: hello", repeats=1)


def test_agreement_with_hand_labels() -> None:
    assert agreement([True, True, False, False], [True, True, False, False]) == (1.0, 1.0)
    observed, kappa = agreement([True, True, True, False], [True, False, True, False])
    assert observed == 0.75 and kappa == pytest.approx(0.5)
    with pytest.raises(ValueError):
        agreement([], [])
