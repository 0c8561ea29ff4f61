"""The rubric judge against hand labels: raw agreement and Cohen's kappa, with the spread of its repeats.

    python -m benchmarks judge_agreement [--model local/smollm2] [--repeats 3] [--record]

`evals/judge/labelled.yaml` holds hand-labelled conversations (rubric, transcript, pass or fail). Each is
judged as a run's grading judges a task (`grading.judge.judge_rubric`: the median of `--repeats` calls,
passed at 4 or more), from the recorded verdicts in `evals/judge/verdicts.jsonl`; `--record` asks the model
for those missing (the local model needs the `local` extra) and appends them. Without `--record` nothing is
asked: a missing verdict is an error.

Baselines of the same run, on the same labels: a judge that passes everything (kappa 0 by construction) and
a length heuristic (passes an agent answer of 60 characters or more, the bias judges are known for).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from grading.judge import agreement, judge_rubric
from grading.judge_models import LOCAL_JUDGE, recorded_judge

DATA = Path(__file__).parents[1] / "evals" / "judge"
LONG_ANSWER = 60


class Labelled(BaseModel):
    id: str
    rubric: str = Field(min_length=1)
    transcript: str = Field(min_length=1)
    passed: bool = Field(alias="pass")


def load(path: Path = DATA / "labelled.yaml") -> list[Labelled]:
    return [Labelled.model_validate(item) for item in yaml.safe_load(path.read_text())["items"]]


def _answer_length(transcript: str) -> int:
    answers = [line.removeprefix("agent: ") for line in transcript.splitlines() if line.startswith("agent: ")]
    return max(map(len, answers), default=0)


async def run(model: str, repeats: int, record: bool, recordings: Path) -> dict[str, Any]:
    items = load()
    judge = recorded_judge(model, recordings, record=record)
    started = time.perf_counter()
    rows = []
    for item in items:
        verdict = await judge_rubric(judge, item.rubric, item.transcript, repeats=repeats)
        rows.append({"id": item.id, "label": item.passed, "judged": verdict.passed, "scores": verdict.scores,
                     "spread": verdict.spread})  # fmt: skip
    seconds = time.perf_counter() - started
    labels = [i.passed for i in items]
    ours = agreement([r["judged"] for r in rows], labels)
    always = agreement([True] * len(items), labels)
    length = agreement([_answer_length(i.transcript) >= LONG_ANSWER for i in items], labels)
    spreads = [r["spread"] for r in rows]
    return {
        "model": model,
        "items": len(items),
        "labelled_pass": sum(labels),
        "repeats": repeats,
        "judge": {"agreement": ours[0], "kappa": ours[1]},
        "always_pass": {"agreement": always[0], "kappa": always[1]},
        "length_heuristic": {"agreement": length[0], "kappa": length[1]},
        "judged_pass": sum(r["judged"] for r in rows),
        "mean_spread": statistics.mean(spreads),
        "items_with_spread": sum(s > 0 for s in spreads),
        "seconds": seconds,
        "rows": rows,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"judge {result['model']} on {result['items']} hand-labelled conversations "
        f"({result['labelled_pass']} labelled pass), median of {result['repeats']} calls each",
        "",
        f"{'id':<30} {'label':<6} {'judge':<6} scores",
    ]
    for row in result["rows"]:
        mark = "" if row["label"] == row["judged"] else "  <- disagrees"
        lines.append(f"{row['id']:<30} {row['label']!s:<6} {row['judged']!s:<6} {row['scores']}{mark}")
    lines.append("")
    for name in ("judge", "always_pass", "length_heuristic"):
        figures = result[name]
        lines.append(f"{name:<18} agreement {figures['agreement']:.1%}  Cohen's kappa {figures['kappa']:+.2f}")
    lines += [
        f"judged pass: {result['judged_pass']}/{result['items']}; mean spread of repeats {result['mean_spread']:.2f}"
        f" ({result['items_with_spread']} items with any spread)",
        f"judging took {result['seconds']:.2f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks judge_agreement", description=__doc__)
    parser.add_argument("--model", default=LOCAL_JUDGE, help="the judging model (default local/smollm2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="ask the model for verdicts not yet recorded")
    parser.add_argument("--recordings", type=Path, default=DATA / "verdicts.jsonl")
    parser.add_argument("--json", type=Path, help="also write the result as JSON to this file")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.model, max(1, args.repeats), args.record, args.recordings))
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0
