"""Early exit's contracts: the cache lookup before a turn's first model call and the store after its answer.

Both run as local activities (`router.early_exit_lookup`, `router.early_exit_store`), so whether a turn was
answered from the cache is recorded in workflow history and a replay never looks again.
"""

from __future__ import annotations

import string
from typing import Any

from pydantic import Field

from contracts.base import Frozen

# The model a turn answered from the cache is recorded with: no model was called, nothing was charged.
EARLY_EXIT_MODEL = "early-exit"
# The model of a turn answered by rendering a tool's output with the tool's `answer_template`.
TOOL_ANSWER_MODEL = "tool-answer"
MAX_TOOL_ANSWER_CHARS = 2000


class EarlyExitInput(Frozen):
    tenant_id: str
    conversation_id: str
    message_id: str
    agent: str
    # The resolved agent's stored version (0: the shipped or operator default); part of the cache key.
    agent_version: int = 0


class EarlyExitResult(Frozen):
    # False: the tenant has not opted in (or the turn does not qualify); nothing is looked up or stored.
    enabled: bool = False
    # The cache key of this turn's question (hashed; empty when not enabled), for the store after the answer.
    key: str = ""
    # The earlier answer on a hit, None on a miss.
    answer: str | None = None
    model: str = ""
    # The tenant opted in to tool answers (`tool_answers`, whatever the cache): a step that is one successful
    # call of a tool with an `answer_template` may then answer without another model call.
    opted_in: bool = False


class EarlyExitStoreInput(Frozen):
    tenant_id: str
    key: str = Field(min_length=1, max_length=200)
    answer: str
    model: str = ""


class ToolAnswerInput(Frozen):
    """A turn answered by a tool's rendered output (`router.tool_answer`): announced and counted."""

    tenant_id: str
    conversation_id: str
    message_id: str
    step: int = Field(ge=0)
    tool: str
    answer: str = Field(min_length=1, max_length=MAX_TOOL_ANSWER_CHARS)


def render_tool_answer(template: str, output: dict[str, Any]) -> str | None:
    """`template` with `{field}` replaced by the output's top-level scalar fields; None when it cannot be
    rendered exactly (an unknown, nested or non-scalar field, a format spec, an empty or too long result),
    so the turn asks the model as usual. Pure and deterministic: the workflow renders it itself."""
    parts: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    for literal, field, spec, conversion in parsed:
        parts.append(literal)
        if field is None:
            continue
        if spec or conversion or field not in output:
            return None
        value = output[field]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return None
        parts.append(str(value))
    text = "".join(parts).strip()
    return text if 0 < len(text) <= MAX_TOOL_ANSWER_CHARS else None
