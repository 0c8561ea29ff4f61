"""A task's rubric judged inside a run's grading: the conversation as the judge reads it, and its verdict.

The judge reads the conversation without the world's ids: every id of the eval tenant is written back as
its reference (`{order:ada.placed}`), and the scripted model's `PLAN:` is cut from what the customer wrote
(a real model never sees it either). Each task runs in a tenant of its own whose ids differ, so only an
id-free transcript gives the same prompt run after run, which is what lets recorded verdicts answer again.
"""

from __future__ import annotations

import json

from contracts.eval_runs import Observation
from contracts.evals import Verdict
from grading.judge import Judge, JudgeError, judge_rubric

PLAN_MARK = "\nPLAN: "
JUDGE_GRADER = "judge"


def _unreference(text: str, refs: dict[str, str]) -> str:
    # Longest ids first, so no id that contains another is cut in half.
    for ref, value in sorted(refs.items(), key=lambda item: -len(item[1])):
        if value and value != ref.split(":", 1)[1]:
            text = text.replace(value, "{" + ref + "}")
    return text


def judge_transcript(observation: Observation) -> str:
    """The conversation as the judge reads it: the customer, every tool call with its status, the agent."""
    lines: list[str] = []
    for turn in observation.turns:
        lines.append(f"customer: {turn.user.split(PLAN_MARK, 1)[0]}")
        for call in turn.calls:
            lines.append(f"tool {call.tool} {json.dumps(call.arguments, sort_keys=True)} -> {call.status}")
        lines.append(f"agent: {turn.answer}")
    return _unreference("\n".join(lines), observation.refs)


async def rubric_verdict(
    judge: Judge, rubric: str, observation: Observation, *, repeats: int, gating: bool = True
) -> Verdict:
    """The judge's verdict as one grader's: passed at a median score of 4 or more; the spread kept with it.

    A judge that gives no usable verdict (a provider failure, no recording for this prompt) is a failed
    verdict saying so, never a passed one: a stale recording must show, not hide.
    """
    try:
        result = await judge_rubric(judge, rubric, judge_transcript(observation), repeats=repeats)
    except JudgeError as exc:
        return Verdict(grader=JUDGE_GRADER, passed=False, detail=f"no verdict: {exc}"[:500], gating=gating)
    reason = next((r for r in result.reasons if r), "")
    return Verdict(
        grader=JUDGE_GRADER,
        passed=result.passed,
        detail=f"score {result.score:g} of {result.scores} (spread {result.spread:g}) by {judge.model}: {reason}"[:500],
        score=result.score,
        spread=result.spread,
        gating=gating,
    )
