"""How a candidate's decision at one step differs from the recorded one.

    tool       a different set of tools called, or a call where the recording answered (and the reverse)
    arguments  the same tools, other arguments: a structured diff per call (JSON-pointer paths)
    answer     both answered, in different words: a unified text diff
    error      the candidate's model call failed

Calls of one step are compared as a multiset (order and call ids do not matter: the platform runs a step's
reads together and keys rows by its own ids).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from contracts.conversation import ModelCallResult, ToolCallRequest
from evals.replay.model import Decision


def _key(call: ToolCallRequest) -> tuple[str, str]:
    return call.tool, json.dumps(call.arguments, sort_keys=True, default=str)


def structured_diff(recorded: Any, candidate: Any, path: str = "") -> list[dict[str, Any]]:
    """The changes from `recorded` to `candidate`, one per leaf: `changed`, `added` or `removed`."""
    if isinstance(recorded, dict) and isinstance(candidate, dict):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(recorded) | set(candidate), key=str):
            where = f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if key not in candidate:
                changes.append({"path": where, "op": "removed", "recorded": recorded[key]})
            elif key not in recorded:
                changes.append({"path": where, "op": "added", "candidate": candidate[key]})
            else:
                changes += structured_diff(recorded[key], candidate[key], where)
        return changes
    if isinstance(recorded, list) and isinstance(candidate, list) and len(recorded) == len(candidate):
        return [
            c
            for i, (a, b) in enumerate(zip(recorded, candidate, strict=True))
            for c in structured_diff(a, b, f"{path}/{i}")
        ]
    if recorded == candidate and type(recorded) is type(candidate):
        return []
    return [{"path": path or "/", "op": "changed", "recorded": recorded, "candidate": candidate}]


def text_diff(recorded: str, candidate: str) -> list[str]:
    return list(
        difflib.unified_diff(recorded.splitlines(), candidate.splitlines(), "recorded", "candidate", lineterm="", n=1)
    )


def compare(recorded: ModelCallResult, candidate: Decision) -> tuple[str, dict[str, Any]] | None:
    """The kind of divergence and its detail, or None when the decisions agree."""
    if candidate.error:
        return "error", {"error": candidate.error}
    want = sorted(recorded.tool_calls, key=_key)
    got = sorted(candidate.calls, key=_key)
    if not want and not got:
        if recorded.content == candidate.content:
            return None
        return "answer", {"diff": text_diff(recorded.content, candidate.content)}
    if [c.tool for c in want] != [c.tool for c in got]:
        return "tool", {
            "recorded": [c.tool for c in want] or ["(answered)"],
            "candidate": [c.tool for c in got] or ["(answered)"],
            **({"candidate_answer": candidate.content[:500]} if not got else {}),
        }
    calls = []
    for a, b in zip(want, got, strict=True):
        changes = structured_diff(a.arguments, b.arguments)
        if changes:
            calls.append({"tool": a.tool, "changes": changes})
    return ("arguments", {"calls": calls}) if calls else None
