"""Checking an agent definition against the tool registry and the known agents, and expanding its tool references.

Every tool reference must name an agent-visible tool (`name`, `name@version`, or `namespace.*` for all of a
namespace's agent-visible tools) and every handoff target a known agent other than the agent itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from agents.sdk import Tool, ToolRegistry
from contracts.agents import TOOL_NAME, AgentDefinition


class AgentInvalid(ValueError):
    """A definition that names tools or handoff targets that do not exist; `problems` says which."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['problem']}" for p in problems))
        self.problems = problems


def expand_tool_refs(refs: Iterable[str], registry: ToolRegistry) -> list[Tool]:
    """The agent-visible tools the references name, in order, each once; unknown references are skipped."""
    tools: dict[tuple[str, int], Tool] = {}
    for ref in refs:
        for item in _matches(ref, registry):
            if item.spec.agent_visible:
                tools.setdefault((item.spec.name, item.spec.version), item)
    return list(tools.values())


def _matches(ref: str, registry: ToolRegistry) -> list[Tool]:
    if ref.endswith(".*"):
        namespace = ref[:-1]
        latest: dict[str, Tool] = {}
        for item in registry.all():  # sorted by (name, version): the last one seen is the newest
            if item.spec.name.startswith(namespace):
                latest[item.spec.name] = item
        return list(latest.values())
    found = registry.resolve(ref)
    return [found] if found is not None else []


def _ref_problem(ref: str, registry: ToolRegistry) -> str | None:
    name, _, version = ref.partition("@")
    wildcard = name.endswith(".*") and not version
    if not (TOOL_NAME.fullmatch(name) or (wildcard and TOOL_NAME.fullmatch(name[:-2] + ".x"))):
        return "malformed_tool_ref"
    if version and not (version.isdigit() and 1 <= int(version) <= 1_000_000):
        return "malformed_tool_ref"
    matches = _matches(ref, registry)
    if not matches:
        return "unknown_tool"
    if not any(item.spec.agent_visible for item in matches):
        return "tool_not_agent_visible"
    return None


def validate_definition(definition: AgentDefinition, registry: ToolRegistry, known: Collection[str]) -> None:
    """Raises AgentInvalid listing every tool reference and handoff target that does not hold."""
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, ref in enumerate(definition.tools):
        problem = "duplicate_tool" if ref in seen else _ref_problem(ref, registry)
        seen.add(ref)
        if problem:
            problems.append({"field": f"tools[{i}]", "value": ref[:100], "problem": problem})
    for i, target in enumerate(definition.handoff_targets):
        if target == definition.name:
            problem = "handoff_to_self"
        elif target in definition.handoff_targets[:i]:
            problem = "duplicate_handoff_target"
        else:
            problem = None if target in known else "unknown_handoff_target"
        if problem:
            problems.append({"field": f"handoff_targets[{i}]", "value": target[:100], "problem": problem})
    if problems:
        raise AgentInvalid(problems)
