"""Model routing's contracts: what a turn's routing decision reads and what it decided.

The decision is taken by a local activity (`router.decide`) before each model call, so it sits in workflow
history with its inputs: the features it read, the probability it estimated, the threshold it compared that
with and the reason. The model activity then calls `chain` in order (the first model, then its fallbacks),
so a replay or a retry never routes again differently.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from contracts.base import Frozen

# `contracts.conversation.Tier`'s values; spelled here because that module imports this one.
TierName = Literal["small", "large"]


class RouteReason(StrEnum):
    """Why the router chose as it did; one word each, so metrics can count them."""

    CLASSIFIER = "classifier"  # p(small passes) compared with the tenant's threshold
    PINNED = "pinned"  # the tenant pinned a model
    AGENT_PINNED = "agent_pinned"  # the operator pinned the agent to a model
    SAFE_MODE = "safe_mode"  # over the soft budget: small tier
    BUDGET = "budget"  # what is left of the budget does not pay for the large tier
    CANARY = "canary"  # the conversation is in the canary's share
    NO_LARGE = "no_large"  # no large model is allowed in the tenant's region
    EARLY_EXIT = "early_exit"  # an exact repeat of a recent question answered from the cache, no model call
    TOOL_ANSWER = "tool_answer"  # a tool's output rendered by its answer template, no model call


class RouteInput(Frozen):
    tenant_id: str
    conversation_id: str
    message_id: str
    agent: str
    # The agent definition's tier: the router's prior, and the answer when the router cannot decide.
    default_tier: TierName = "small"
    step: int = 0
    # How many tools the model may call in this step: a hint of the work ahead.
    tool_count: int = 0
    # Turns already answered in this conversation.
    depth: int = 0
    # The agent version the turn resolved, and whether an agent-version canary chose it (`route.decided` says).
    agent_version: int = Field(default=0, ge=0)
    agent_canary: bool = False


class RouteDecision(Frozen):
    tier: TierName
    # The models to try, in order: the chosen one first, then its fallbacks; all in the tenant's region.
    chain: list[str] = Field(min_length=1)
    reason: RouteReason
    # The classifier's calibrated estimate that the small tier's answer passes, and the bar it had to clear.
    p_small_pass: float = Field(default=0.0, ge=0, le=1)
    threshold: float = Field(default=0.0, ge=0, le=1)
    router_version: str = ""
    region: str = ""
    # The features the classifier read, by name, so the decision can be reproduced from history alone.
    features: dict[str, float] = Field(default_factory=dict)
    canary: bool = False
    # The conversation is in a threshold canary's share: `threshold` is the canary's.
    threshold_canary: bool = False

    @property
    def model(self) -> str:
        return self.chain[0]
