"""A rubric judged inside a run's grading: the id-free transcript the judge reads, the verdict it becomes,
and whether it counts toward the task's pass."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from contracts.eval_runs import Observation, ObservedCall, ObservedTurn
from contracts.evals import Verdict
from grading.graders import passed
from grading.judge import Messages, RecordedJudge, ScriptedJudge
from grading.rubric import judge_transcript, rubric_verdict


def _observation(order_id: str) -> Observation:
    return Observation(
        refs={"order:ada.placed": order_id, "customer:ada": "c-" + order_id, "sku:SKU-MUG": "SKU-MUG"},
        turns=[
            ObservedTurn(
                user=f'Please cancel order {order_id}.\nPLAN: [{{"tool": "orders.cancel"}}]',
                answer=f"Order {order_id} is cancelled; SKU-MUG refunded.",
                calls=[ObservedCall(tool="orders.cancel", arguments={"order_id": order_id}, status="ok")],
            )
        ],
    )


def test_the_judge_reads_the_same_transcript_whatever_the_tenant_ids() -> None:
    first, second = judge_transcript(_observation("01JABC")), judge_transcript(_observation("01JXYZ"))
    assert first == second
    assert "PLAN" not in first and "01JABC" not in first
    assert first.splitlines() == [
        "customer: Please cancel order {order:ada.placed}.",
        'tool orders.cancel {"order_id": "{order:ada.placed}"} -> ok',
        "agent: Order {order:ada.placed} is cancelled; SKU-MUG refunded.",
    ]


def _scores(*values: int) -> ScriptedJudge:
    answers = itertools.cycle(values)
    return ScriptedJudge(lambda _m: json.dumps({"score": next(answers), "reason": "it confirms"}))


async def test_a_rubric_verdict_carries_the_median_and_the_spread() -> None:
    verdict = await rubric_verdict(_scores(5, 3, 4), "Confirms it.", _observation("o1"), repeats=3)
    assert (verdict.grader, verdict.passed, verdict.score, verdict.spread) == ("judge", True, 4.0, 2.0)
    assert "score 4 of [5, 3, 4]" in verdict.detail and "scripted/judge" in verdict.detail
    low = await rubric_verdict(_scores(2), "Confirms it.", _observation("o1"), repeats=2)
    assert (low.passed, low.score, low.spread) == (False, 2.0, 0.0)


async def test_a_missing_recording_is_a_failed_verdict_not_a_network_call(tmp_path: Path) -> None:
    asked: list[Messages] = []
    judge = RecordedJudge(tmp_path / "none.jsonl", ScriptedJudge(lambda m: asked.append(m) or "{}"), record=False)
    verdict = await rubric_verdict(judge, "Confirms it.", _observation("o1"), repeats=3)
    assert not verdict.passed and verdict.detail.startswith("no verdict") and verdict.score is None
    assert asked == []


async def test_verdicts_recorded_in_one_world_answer_in_another(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.jsonl"
    recorded = await rubric_verdict(RecordedJudge(path, _scores(4), record=True), "R", _observation("a1"), repeats=2)
    replayed = await rubric_verdict(RecordedJudge(path, model="scripted/judge"), "R", _observation("b2"), repeats=2)
    assert replayed == recorded and replayed.score == 4.0


def test_a_judge_verdict_counts_toward_the_pass_only_when_it_gates() -> None:
    ok = Verdict(grader="tools", passed=True)
    judged_low = Verdict(grader="judge", passed=False, score=2.0, spread=0.0, gating=False)
    assert passed([ok, judged_low])
    assert not passed([ok, judged_low.model_copy(update={"gating": True})])
    assert not passed([judged_low])  # nothing that counts: never a pass
