"""What changed between two versions of an agent: its fields one by one and its system prompt line by line.

Used by `GET /v1/agents/{name}/diff` and the console's version comparison. The prompt's diff is a unified
diff (`difflib`, three lines of context) split into typed lines, so a page can colour it and a client can
read it without parsing `+`/`-` prefixes; every other field is compared as the value a user reads (lists
as sets of names, so a reordering alone is no change).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from contracts.agents import AgentDefinition

LineKind = Literal["hunk", "same", "added", "removed"]


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class PromptLine:
    kind: LineKind
    text: str


@dataclass(frozen=True)
class VersionDiff:
    changes: list[FieldChange]
    tools_added: list[str]
    tools_removed: list[str]
    prompt: list[PromptLine]

    @property
    def identical(self) -> bool:
        return not (self.changes or self.prompt)


def _names(values: list[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def _fields(definition: AgentDefinition) -> dict[str, str]:
    shown = {
        "description": definition.description,
        "default_tier": str(definition.default_tier.value),
        "tools": _names(definition.tools),
        "handoff_targets": _names(definition.handoff_targets),
    }
    for name, value in definition.limits.model_dump().items():
        shown[f"limits.{name}"] = str(value)
    return shown


def prompt_diff(before: str, after: str, context: int = 3) -> list[PromptLine]:
    """The prompt's unified diff as typed lines; empty when the prompts are equal."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=context)
    typed: list[PromptLine] = []
    for line in lines:
        if line.startswith(("---", "+++")) and not typed:
            continue  # the file headers: there are no files
        if line.startswith("@@"):
            typed.append(PromptLine("hunk", line))
        elif line.startswith("+"):
            typed.append(PromptLine("added", line[1:]))
        elif line.startswith("-"):
            typed.append(PromptLine("removed", line[1:]))
        else:
            typed.append(PromptLine("same", line[1:]))
    return typed


def diff_versions(before: AgentDefinition, after: AgentDefinition) -> VersionDiff:
    old, new = _fields(before), _fields(after)
    changes = [FieldChange(field, old[field], new[field]) for field in old if old[field] != new[field]]
    return VersionDiff(
        changes=changes,
        tools_added=sorted(set(after.tools) - set(before.tools)),
        tools_removed=sorted(set(before.tools) - set(after.tools)),
        prompt=prompt_diff(before.system_prompt, after.system_prompt),
    )
