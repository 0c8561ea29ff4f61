"""The `agents.resolve` activity: which agent definition and which tools a turn runs with.

Resolving in an activity records the answer in the workflow's history, so a replay never depends on a
definition or a tool that changed since. Only tools the agent lists, the registry knows, the model may see
(`agent_visible`) and the tenant has not disabled are returned; a `tenant_tools` row decides, no row means
the default (`agents.enablement.default_enabled`).

The agent's active version is its newest; a conversation in the share of the tenant's agent-version canary
(`router.canary.SubjectCanary`, the same hash as the model canary's) resolves the canary's version instead,
and the answer says so (`canary`). A candidate version that no longer resolves leaves the active one.
"""

from __future__ import annotations

from collections.abc import Collection

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.definitions import find_agent
from agents.enablement import default_enabled, load_overrides
from agents.sdk import ToolRegistry
from agents.validation import expand_tool_refs
from contracts.agents import ResolveAgentInput, ResolvedAgent
from contracts.names import ACT_RESOLVE_AGENT
from db.database import Database
from router import settings_store

log = structlog.get_logger("aiaas.agents")


class AgentActivities:
    def __init__(self, db: Database, registry: ToolRegistry, *, pinned_agents: Collection[str] = ()) -> None:
        self._db = db
        self._registry = registry
        # Agent names the operator pinned to a model (`AIAAS_AGENT_MODELS`): chat agents when nobody defines them.
        self._pinned = frozenset(pinned_agents)

    @activity.defn(name=ACT_RESOLVE_AGENT)
    async def resolve(self, inp: ResolveAgentInput) -> ResolvedAgent:
        async with self._db.tenant_session(inp.tenant_id) as session:
            found = await find_agent(session, inp.agent, pinned=self._pinned)
            canary = False
            trial = await settings_store.read_subject_canary(session, inp.tenant_id) if inp.conversation_id else None
            version = trial.agent_version(inp.agent, inp.conversation_id) if trial is not None else None
            if version is not None:
                candidate = await find_agent(session, inp.agent, version, pinned=self._pinned)
                if candidate is not None and candidate.version == version:
                    found, canary = candidate, True
            if found is None:
                raise ApplicationError(
                    f"no agent named {inp.agent!r}", {"agent": inp.agent}, type="AgentNotFound", non_retryable=True
                )
            overrides = await load_overrides(session)
        definition = found.definition
        listed = expand_tool_refs(definition.tools, self._registry)
        missing = [ref for ref in definition.tools if not expand_tool_refs([ref], self._registry)]
        if missing:
            # A shipped agent may list a tool this deployment does not register; the agent runs without it.
            log.warning("agent lists tools the registry lacks", agent=definition.name, missing=missing[:10])
        tools = [item.spec for item in listed if overrides.get(item.spec.name, default_enabled(item))]
        return ResolvedAgent(definition=definition, tools=tools, agent_version=found.version, canary=canary)
