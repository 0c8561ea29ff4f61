"""Canary assignment: a configured share of a tenant's conversations, the same ones every turn.

A conversation is in the canary when a hash of (canary id, conversation id) falls below the share: sticky
(every turn of a conversation, on every worker, in every replay, answers the same way), independent across
canaries (a new canary id reshuffles who is in it), and needing no state.

What the share tries is a model (`Canary`, the router's `canary_model`), or an agent version or a routing
threshold (`SubjectCanary`, the router's `canary_subject`). Every kind's id names the tenant and what is
tried, so the arms the canary rule compares are the arms the router and the agent resolution assigned.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from contracts.canary import AgentVersionSubject, ModelSubject, RouterThresholdSubject

_BUCKETS = 1_000_000
AGENT_VERSION = "agent_version"
ROUTER_THRESHOLD = "router_threshold"


@dataclass(frozen=True, slots=True)
class Canary:
    id: str
    model: str
    share: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError("a canary's share is between 0 and 1")

    def includes(self, conversation_id: str) -> bool:
        return bucket(self.id, conversation_id) < self.share * _BUCKETS


@dataclass(frozen=True, slots=True)
class SubjectCanary:
    """An agent version (`kind` agent_version: `agent` at `version`) or a routing threshold (`threshold`) tried
    on `share` of the tenant's conversations."""

    id: str
    kind: str
    share: float
    agent: str = ""
    version: int = 0
    threshold: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError("a canary's share is between 0 and 1")
        if self.kind not in (AGENT_VERSION, ROUTER_THRESHOLD):
            raise ValueError(f"unknown canary kind {self.kind!r}")

    def includes(self, conversation_id: str) -> bool:
        return bucket(self.id, conversation_id) < self.share * _BUCKETS

    def agent_version(self, agent: str, conversation_id: str) -> int | None:
        """The version `agent` resolves to in this conversation; None: the active one."""
        if self.kind == AGENT_VERSION and agent == self.agent and self.includes(conversation_id):
            return self.version
        return None

    def threshold_for(self, conversation_id: str) -> float | None:
        """The threshold this conversation's routing uses; None: the tenant's own."""
        if self.kind == ROUTER_THRESHOLD and self.includes(conversation_id):
            return self.threshold
        return None

    def as_json(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"id": self.id, "kind": self.kind, "share": self.share}
        if self.kind == AGENT_VERSION:
            fields.update(agent=self.agent, version=self.version)
        else:
            fields["threshold"] = self.threshold
        return fields

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> SubjectCanary | None:
        """The stored form back; None for nothing stored, or a share of 0."""
        if not raw or float(raw.get("share", 0)) <= 0:
            return None
        return cls(
            id=str(raw["id"]),
            kind=str(raw["kind"]),
            share=float(raw["share"]),
            agent=str(raw.get("agent", "")),
            version=int(raw.get("version", 0)),
            threshold=float(raw.get("threshold", 0.0)),
        )


def assignment(
    tenant_id: str, subject: ModelSubject | AgentVersionSubject | RouterThresholdSubject, share: float
) -> Canary | SubjectCanary:
    """The router's canary for `subject`: its id names the tenant and what is tried."""
    if isinstance(subject, ModelSubject):
        return Canary(f"{tenant_id}:{subject.model}", subject.model, share)
    if isinstance(subject, AgentVersionSubject):
        return SubjectCanary(
            f"{tenant_id}:agent:{subject.agent}@{subject.version}",
            AGENT_VERSION,
            share,
            agent=subject.agent,
            version=subject.version,
        )
    return SubjectCanary(
        f"{tenant_id}:threshold:{subject.threshold!r}", ROUTER_THRESHOLD, share, threshold=subject.threshold
    )


def bucket(canary_id: str, conversation_id: str) -> int:
    digest = hashlib.sha256(f"{canary_id}\x00{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS
