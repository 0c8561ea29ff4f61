"""A routing table on disk: JSON lines of graded prompts, what `aiaas router train` fits a router on.

One line per graded answer pair, as an eval run writes it:

    {"key": "task-17", "text": "...", "small_pass": 1, "large_pass": 1,
     "previous": "...", "tool_count": 2, "depth": 1, "plan": "pro", "retrieval_confidence": 0.8}

`key` groups the lines of one prompt (a task graded several times), so a prompt never lands on both sides of
a fold; `text`, `small_pass` and `large_pass` are required, the rest default to an empty context.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from router.features import TurnContext, extract
from router.static_embedding import StaticEmbedder
from router.train import TrainingRow


class TableError(ValueError):
    """A line of the table that cannot be trained on; the message names the line and what is wrong."""


def _verdict(line: int, row: dict[str, Any], name: str) -> int:
    value = row.get(name)
    if value not in (0, 1, True, False):
        raise TableError(f"line {line}: {name} must be 0 or 1")
    return int(value)


def parse_row(line: int, row: Any, embedder: StaticEmbedder | None = None) -> TrainingRow:
    if not isinstance(row, dict):
        raise TableError(f"line {line}: a JSON object expected")
    text, key = row.get("text"), row.get("key")
    if not isinstance(text, str) or not isinstance(key, str) or not key:
        raise TableError(f"line {line}: text and key must be strings")
    confidence = row.get("retrieval_confidence")
    try:
        context = TurnContext(
            tool_count=int(row.get("tool_count", 0)),
            step=int(row.get("step", 0)),
            depth=int(row.get("depth", 0)),
            retrieval_confidence=float(confidence) if confidence is not None else None,
            agent_large_default=bool(row.get("agent_large_default", False)),
            plan=str(row.get("plan", "free")),
        )
    except (TypeError, ValueError) as exc:
        raise TableError(f"line {line}: {exc}") from exc
    features = extract(text, context, previous=str(row.get("previous") or ""))
    if embedder is not None:
        features |= embedder.features(text)
    return TrainingRow(key, features, _verdict(line, row, "small_pass"), _verdict(line, row, "large_pass"))


def read_table(lines: Iterable[str], embedder: StaticEmbedder | None = None) -> list[TrainingRow]:
    """The table's rows; with `embedder`, each carries its text's static embedding (`fit(embeddings=True)`)."""
    rows = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TableError(f"line {number}: not JSON ({exc.msg})") from exc
        rows.append(parse_row(number, parsed, embedder))
    return rows
