"""The agent a conversation's turns run with, resolved once per run and again only when it changed.

Resolving an agent (`agents.resolve`) is a transaction of its own: the definition, then the tenant's tool
switches. A conversation's turns nearly always run the same agent at the same version, so from the
`agent-def-once` patch on the run keeps the last resolution and reuses it while the message's *agent stamp*
matches. The stamp is read in the transaction that records the message (`agents.definitions.agent_stamp`:
the agent's newest stored version and the tenant's tool switches), so checking it costs no round trip of
its own. A new version, a tool switched on or off, a handoff to another agent, a message recorded without a
stamp, or a new run (continue-as-new, a new deployment) resolves again (from the `turn-steps` patch on inside
the turn's preparation, `router.prepare_turn`). The resolution reused is the one recorded in this run's
history, so a replay takes the same path.

What a turn sees is what was current when its message was recorded, as before it was what was current when
the turn began: a change in between reaches the next message.

A kept resolution (the definition with its tools' JSON schemas, about 40 KiB of objects) would otherwise be
held once per open conversation, though most conversations of a worker run the same few agents. `put` keeps
the process's one copy of an equal resolution instead (`shared`): resolutions are frozen and equal ones are
interchangeable, so which copy a run holds changes nothing it does, and the table only holds copies some
run still keeps (weak references).
"""

from __future__ import annotations

import weakref

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.agents import ResolvedAgent

AGENT_ONCE_PATCH = "agent-def-once"

# Resolutions kept by some run, by their JSON; one per distinct resolution in the process.
_SHARED: weakref.WeakValueDictionary[str, ResolvedAgent] = weakref.WeakValueDictionary()


def shared(resolved: ResolvedAgent) -> ResolvedAgent:
    """The process's copy of a resolution equal to `resolved` (`resolved` itself when it is the first)."""
    key = resolved.model_dump_json()
    kept = _SHARED.get(key)
    if kept is not None and kept == resolved:
        return kept
    _SHARED[key] = resolved
    return resolved


class AgentCache:
    def __init__(self) -> None:
        self._key: tuple[str, str] | None = None
        self._resolved: ResolvedAgent | None = None

    def get(self, agent: str, stamp: str) -> ResolvedAgent | None:
        """The kept resolution of `agent` if its stamp is still `stamp`; None: resolve it again."""
        if not stamp or self._key != (agent, stamp):
            return None
        return self._resolved

    def put(self, agent: str, stamp: str, resolved: ResolvedAgent) -> None:
        if not stamp:
            self.clear()
            return
        self._key, self._resolved = (agent, stamp), shared(resolved)

    def clear(self) -> None:
        self._key, self._resolved = None, None
