"""Features of a turn, read from its text and its context: cheap, deterministic, no network.

Every feature is a float in a small range, and the order is fixed (`FEATURE_NAMES`): a stored classifier
reads features by name, so adding one is a new router version, never a silent shift. Text signals are word
lists, not a model: they are what the classifier learns weights for, on the tenant's own eval results.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_WORD = re.compile(r"[\w']+", re.UNICODE)
_DIGIT = re.compile(r"\d")

# Intent signals: stems matched at the start of words (whole words up to three letters), case-folded.
_SIGNALS: dict[str, tuple[str, ...]] = {
    "code": (
        "code",
        "python",
        "function",
        "implement",
        "program",
        "sql",
        "regex",
        "algorithm",
        "bug",
        "compile",
        "javascript",
        "java",
        "c++",
        "script",
        "class",
        "api",
        "array",
        "string",
        "binary",
        "tree",
        "node",
        "complexity",
        "recursi",
        "loop",
        "html",
        "react",
        "develop",
        "debug",
        "query",
    ),
    "math": (
        "calculat",
        "solve",
        "equation",
        "integral",
        "derivativ",
        "probabil",
        "prove",
        "proof",
        "math",
        "sum",
        "number",
        "percent",
        "area",
        "triangle",
        "digit",
        "prime",
        "geometr",
        "divid",
        "remainder",
        "express",
        "value",
        "average",
        "total",
        "ratio",
        "circle",
        "integer",
        "x",
        "y",
        "z",
    ),
    "reasoning": (
        "why",
        "explain",
        "compar",
        "analy",
        "reason",
        "evaluat",
        "trade",
        "implicat",
        "step",
        "logic",
        "infer",
        "deduc",
        "assum",
        "argument",
        "critique",
        "pros",
        "puzzle",
        "if",
        "which",
        "who",
        "how many",
        "true",
        "false",
        "uncertain",
        "father",
        "brother",
        "sister",
        "race",
    ),
    "writing": (
        "write",
        "poem",
        "story",
        "essay",
        "email",
        "blog",
        "draft",
        "compose",
        "haiku",
        "letter",
        "rewrite",
        "persuasive",
        "limerick",
        "travel",
        "describe",
        "paragraph",
        "post",
        "speech",
    ),
    "lookup": (
        "where",
        "status",
        "when",
        "order",
        "track",
        "price",
        "hours",
        "address",
        "list",
        "extract",
        "return",
        "refund",
        "deliver",
        "account",
        "password",
        "json",
        "format",
        "identify",
    ),
    "roleplay": ("pretend", "imagine", "roleplay", "act", "character", "embrace", "persona"),
}
_CODE_MARKS = ("```", "def ", "{", "};", "=>", "#include")

PLANS = ("free", "pro", "enterprise")

FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "questions",
    "lines",
    "non_ascii",
    "digits",
    "code_marks",
    *(f"signal_{name}" for name in _SIGNALS),
    "log_tools",
    "step",
    "log_depth",
    "retrieval_confidence",
    "retrieval_missing",
    "agent_large_default",
    *(f"plan_{plan}" for plan in PLANS),
)


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What the turn's context says besides its text."""

    tool_count: int = 0
    step: int = 0
    depth: int = 0
    # The knowledge base's confidence in what it retrieved (0..1), when the turn retrieved anything.
    retrieval_confidence: float | None = None
    agent_large_default: bool = False
    plan: str = "free"


# Short stems match whole words only: "x" is a variable, not every word that starts with x.
_MATCHERS = {
    name: (frozenset(s for s in stems if len(s) <= 3), tuple(s for s in stems if len(s) > 3))
    for name, stems in _SIGNALS.items()
}


def _signal(words: list[str], name: str) -> float:
    exact, prefixes = _MATCHERS[name]
    hits = sum(1 for w in words if w in exact or w.startswith(prefixes))
    return min(hits, 4) / 4.0


def extract(text: str, context: TurnContext | None = None, *, previous: str = "") -> dict[str, float]:
    """The features of one turn, by name, in `FEATURE_NAMES` order.

    `previous` is the conversation's previous user message: a follow-up ("now do it in Rust") inherits the
    intent of what it follows, so the intent signals read both; sizes read this turn's text only.
    """
    ctx = context or TurnContext()
    words = [w.casefold() for w in _WORD.findall(text)]
    intent_words = words + [w.casefold() for w in _WORD.findall(previous)] if previous else words
    chars = max(len(text), 1)
    values: dict[str, float] = {
        "log_chars": math.log1p(len(text)) / 10.0,
        "log_words": math.log1p(len(words)) / 8.0,
        "questions": min(text.count("?"), 5) / 5.0,
        "lines": min(text.count("\n"), 20) / 20.0,
        "non_ascii": 0.0 if text.isascii() else sum(1 for c in text if ord(c) > 127) / chars,
        "digits": len(_DIGIT.findall(text)) / chars,
        "code_marks": min(sum(text.count(m) for m in _CODE_MARKS), 5) / 5.0,
    }
    for name in _SIGNALS:
        values[f"signal_{name}"] = _signal(intent_words, name)
    confidence = ctx.retrieval_confidence
    values.update(
        {
            "log_tools": math.log1p(max(ctx.tool_count, 0)) / 4.0,
            "step": min(max(ctx.step, 0), 10) / 10.0,
            "log_depth": math.log1p(max(ctx.depth, 0)) / 5.0,
            "retrieval_confidence": min(max(confidence, 0.0), 1.0) if confidence is not None else 0.0,
            "retrieval_missing": 1.0 if confidence is None else 0.0,
            "agent_large_default": 1.0 if ctx.agent_large_default else 0.0,
        }
    )
    for plan in PLANS:
        values[f"plan_{plan}"] = 1.0 if ctx.plan == plan else 0.0
    return {name: round(values[name], 6) for name in FEATURE_NAMES}


def vector(features: dict[str, float], names: tuple[str, ...] = FEATURE_NAMES) -> list[float]:
    return [float(features.get(name, 0.0)) for name in names]
