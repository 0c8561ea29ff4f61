"""`AgentCache`: a kept resolution is reused only for the same agent and stamp."""

from __future__ import annotations

from contracts.agents import AgentDefinition, ResolvedAgent
from workflows.agent_cache import AgentCache


def _resolved(version: int) -> ResolvedAgent:
    return ResolvedAgent(definition=AgentDefinition(name="support", system_prompt="help"), agent_version=version)


def test_reuses_only_the_same_agent_and_stamp() -> None:
    cache = AgentCache()
    kept = _resolved(1)
    cache.put("support", "support:v1:t0:", kept)
    assert cache.get("support", "support:v1:t0:") is kept
    assert cache.get("support", "support:v2:t0:") is None
    assert cache.get("orders", "support:v1:t0:") is None


def test_no_stamp_never_reuses() -> None:
    cache = AgentCache()
    cache.put("support", "support:v1:t0:", _resolved(1))
    assert cache.get("support", "") is None
    cache.put("support", "", _resolved(2))
    assert cache.get("support", "support:v1:t0:") is None
