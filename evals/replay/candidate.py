"""A candidate setting: what differs from the recording when its model steps are asked again.

Everything left unset stays as recorded, so `Candidate()` replays the recording itself (the control: it must
not diverge anywhere). A candidate may change

- the model that answers (`model`, any litellm name the platform's model layer knows: `scripted/agent`,
  `local/smollm2`, a provider's model),
- the system prompt of every agent (`system_prompt`) or whole agent definitions by name (`agents`: prompt,
  tools listed, handoff targets),
- tool specs by name (`tools`: a schema, an approval rule; `None` removes the tool),
- the router's threshold (`router_threshold`): each recorded decision whose tier came from comparing the
  classifier's probability with the threshold is taken again with the new one, from the probability history
  holds; `tier_models` names the model a changed tier calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from contracts.agents import AgentDefinition, ResolvedAgent, ToolSpec
from contracts.conversation import ModelCallResult
from contracts.routing import RouteDecision, RouteReason

# Reasons whose tier is `p_small_pass >= threshold` (`router.policy._tier`); the others (a tenant's pin, the
# budget, no large model in the region) do not read the threshold.
_THRESHOLD_REASONS = frozenset({RouteReason.CLASSIFIER, RouteReason.AGENT_PINNED, RouteReason.CANARY})


@dataclass(frozen=True)
class Candidate:
    name: str = "recorded"
    model: str | None = None
    system_prompt: str | None = None
    agents: Mapping[str, AgentDefinition] = field(default_factory=dict)
    tools: Mapping[str, ToolSpec | None] = field(default_factory=dict)
    router_threshold: float | None = None
    tier_models: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"model={self.model}"] if self.model else []
        if self.system_prompt is not None:
            parts.append("system prompt replaced")
        parts += [f"agent {name} replaced" for name in sorted(self.agents)]
        parts += [
            f"tool {name} {'removed' if spec is None else 'changed'}" for name, spec in sorted(self.tools.items())
        ]
        if self.router_threshold is not None:
            parts.append(f"router threshold={self.router_threshold}")
        return ", ".join(parts) or "as recorded"

    def resolve(self, recorded: ResolvedAgent) -> ResolvedAgent:
        """The agent as the candidate would resolve it."""
        definition = self.agents.get(recorded.definition.name, recorded.definition)
        if self.system_prompt is not None:
            definition = definition.model_copy(update={"system_prompt": self.system_prompt})
        listed = {name.split("@", 1)[0] for name in definition.tools}
        specs: list[ToolSpec] = []
        for spec in recorded.tools:
            replaced = self.tools.get(spec.name, spec)
            if replaced is not None and (definition is recorded.definition or spec.name in listed):
                specs.append(replaced)
        known = {spec.name for spec in specs}
        specs += [s for n, s in sorted(self.tools.items()) if s is not None and n in listed and n not in known]
        if definition is recorded.definition and specs == list(recorded.tools):
            return recorded
        return ResolvedAgent(definition=definition, tools=specs, agent_version=recorded.agent_version)

    def route(self, recorded: RouteDecision | None) -> RouteDecision | None:
        """The recorded routing decision taken again under the candidate's threshold."""
        if recorded is None or self.router_threshold is None or recorded.reason not in _THRESHOLD_REASONS:
            return recorded
        tier = "small" if recorded.p_small_pass >= self.router_threshold else "large"
        update: dict[str, object] = {"threshold": self.router_threshold}
        if tier != recorded.tier:
            model = self.tier_models.get(tier)
            update |= {"tier": tier, "chain": [model] if model else list(recorded.chain)}
        return recorded.model_copy(update=update)

    def model_for(self, recorded: ModelCallResult, route: RouteDecision | None) -> str:
        """The model to ask: the candidate's, else the one its route names, else the one that answered."""
        if self.model:
            return self.model
        if route is not None and self.tier_models.get(route.tier) == route.model:
            return route.model
        return recorded.model
