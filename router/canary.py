"""Canary assignment: a configured share of a tenant's conversations, the same ones every turn.

A conversation is in the canary when a hash of (canary id, conversation id) falls below the share: sticky
(every turn of a conversation, on every worker, in every replay, answers the same way), independent across
canaries (a new canary id reshuffles who is in it), and needing no state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_BUCKETS = 1_000_000


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


def bucket(canary_id: str, conversation_id: str) -> int:
    digest = hashlib.sha256(f"{canary_id}\x00{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS
