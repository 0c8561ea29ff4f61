"""Early exit's contracts: the cache lookup before a turn's first model call and the store after its answer.

Both run as local activities (`router.early_exit_lookup`, `router.early_exit_store`), so whether a turn was
answered from the cache is recorded in workflow history and a replay never looks again.
"""

from __future__ import annotations

from pydantic import Field

from contracts.base import Frozen

# The model a turn answered from the cache is recorded with: no model was called, nothing was charged.
EARLY_EXIT_MODEL = "early-exit"


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


class EarlyExitStoreInput(Frozen):
    tenant_id: str
    key: str = Field(min_length=1, max_length=200)
    answer: str
    model: str = ""
