"""`AgentCache`: a kept resolution is reused only for the same agent and stamp."""

from __future__ import annotations

from contracts.agents import AgentDefinition, Effect, ResolvedAgent, ToolSpec
from workflows.agent_cache import AgentCache, shared


def _resolved(version: int) -> ResolvedAgent:
    return ResolvedAgent(definition=AgentDefinition(name="support", system_prompt="help"), agent_version=version)


def test_reuses_only_the_same_agent_and_stamp() -> None:
    cache = AgentCache()
    kept = _resolved(1)
    cache.put("support", "support:v1:t0:", kept)
    assert cache.get("support", "support:v1:t0:") == kept
    assert cache.get("support", "support:v2:t0:") is None
    assert cache.get("orders", "support:v1:t0:") is None


def test_no_stamp_never_reuses() -> None:
    cache = AgentCache()
    cache.put("support", "support:v1:t0:", _resolved(1))
    assert cache.get("support", "") is None
    cache.put("support", "", _resolved(2))
    assert cache.get("support", "support:v1:t0:") is None


def test_runs_keep_one_copy_of_an_equal_resolution() -> None:
    tools = [
        ToolSpec(name="orders.lookup", description="find an order", effect=Effect.READ, input_schema={"type": "object"})
    ]
    first, second = AgentCache(), AgentCache()
    a = ResolvedAgent(definition=AgentDefinition(name="support", system_prompt="help"), tools=tools)
    b = ResolvedAgent.model_validate_json(a.model_dump_json())  # equal, decoded apart as each run's is
    assert a == b and a is not b
    first.put("support", "support:v1:t0:", a)
    second.put("support", "support:v1:t0:", b)
    assert first.get("support", "support:v1:t0:") is second.get("support", "support:v1:t0:")
    other = _resolved(2)
    assert shared(other) is other  # a different resolution is its own
