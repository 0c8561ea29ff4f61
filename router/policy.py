"""The routing decision: which tier, which model, which fallbacks, and why. Pure: the same inputs, the
same decision, so it can be taken in a local activity and reproduced from history.

    tier:  safe mode (over the soft budget) or blocked -> small          (reason safe_mode)
           the large tier no longer fits the remaining budget -> small   (reason budget)
           p(small passes) >= threshold -> small, else large             (reason classifier)
    threshold: a threshold canary's (for its share of conversations), else the tenant's own, else its curve's
    model: the tenant's pin, else the operator's agent pin, else the canary (for its share of conversations),
           else the tier's configured model; then the tier's fallback chain; every model in the tenant's
           region and not forbidden by it, fallbacks included.

The threshold comes from the classifier's cost/quality curve at the tenant's quality target (its own, or its
plan's), lowered as the budget runs out, so a tenant nearing its hard limit buys fewer large answers before
it is forced onto the small tier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.conversation import Tier
from contracts.routing import RouteDecision, RouteReason
from router.canary import Canary, SubjectCanary
from router.catalog import Catalog, ModelNotInRegion
from router.classifier import PassClassifier

# Share of always-large quality a plan's tenants get by default.
PLAN_QUALITY_TARGET = {"free": 0.90, "pro": 0.95, "enterprise": 0.98}
DEFAULT_QUALITY_TARGET = 0.95
# Below this share of the tightest hard limit left, the threshold falls linearly to 0 (all small).
LOW_BUDGET_FRACTION = 0.25
MAX_CHAIN = 6


class NoModelInRegion(ModelNotInRegion):
    """Nothing the tenant may use processes data in its region."""

    def __init__(self, region: str) -> None:
        ValueError.__init__(self, f"no model is allowed for region {region!r}")
        self.model = ""
        self.region = region


@dataclass(frozen=True)
class RoutingContext:
    """Everything about the tenant and the moment that the decision reads."""

    region: str
    plan: str = "free"
    # The budget mode's value: normal, safe or blocked.
    budget_mode: str = "normal"
    # Share of the tightest hard limit still unspent (None: no hard limit).
    budget_left_fraction: float | None = None
    # Whether one large call's estimate still fits in what is left of the hard limits.
    large_affordable: bool = True
    pinned_model: str | None = None
    forbidden_models: frozenset[str] = frozenset()
    quality_target: float | None = None
    # The operator's models per tier for this agent (`AIAAS_MODEL_*`), and whether the agent is pinned.
    tier_models: dict[Tier, str] = field(default_factory=dict)
    agent_pinned: bool = False
    # Ordered fallbacks per tier (`AIAAS_ROUTER_FALLBACKS`).
    fallbacks: dict[Tier, tuple[str, ...]] = field(default_factory=dict)
    canary: Canary | None = None
    # The tenant's own threshold (a promoted threshold canary's), over its quality target's.
    threshold: float | None = None
    # A running canary of an agent version or a threshold; only a threshold's is read here.
    subject_canary: SubjectCanary | None = None


def threshold(classifier: PassClassifier, ctx: RoutingContext, conversation_id: str = "") -> float:
    """A threshold canary's for its share of conversations, else the tenant's own, else the one the
    classifier's curve gives at the quality target; lowered as the budget runs out."""
    tried = ctx.subject_canary.threshold_for(conversation_id) if ctx.subject_canary is not None else None
    if tried is not None:
        t = tried
    elif ctx.threshold is not None:
        t = ctx.threshold
    else:
        target = ctx.quality_target or PLAN_QUALITY_TARGET.get(ctx.plan, DEFAULT_QUALITY_TARGET)
        t = classifier.threshold_for(target)
    left = ctx.budget_left_fraction
    if left is not None and left < LOW_BUDGET_FRACTION:
        t *= max(left, 0.0) / LOW_BUDGET_FRACTION
    return round(t, 6)


def _tier(p: float, t: float, ctx: RoutingContext) -> tuple[Tier, RouteReason]:
    if ctx.budget_mode != "normal":
        return Tier.SMALL, RouteReason.SAFE_MODE
    if not ctx.large_affordable:
        return Tier.SMALL, RouteReason.BUDGET
    return (Tier.SMALL if p >= t else Tier.LARGE), RouteReason.CLASSIFIER


def _usable(catalog: Catalog, ctx: RoutingContext, model: str | None) -> bool:
    return bool(model) and model not in ctx.forbidden_models and catalog.allowed(str(model), ctx.region)


def chain_for(catalog: Catalog, ctx: RoutingContext, tier: Tier, first: str | None) -> list[str]:
    """`first`, the tier's model and its fallbacks, then the other tier's as a last resort (the large tier's
    only while the budget allows it); every model checked against the region and the forbidden list."""
    other = Tier.LARGE if tier == Tier.SMALL else Tier.SMALL
    candidates = [first, ctx.tier_models.get(tier), *ctx.fallbacks.get(tier, ())]
    if other == Tier.SMALL or (ctx.large_affordable and ctx.budget_mode == "normal"):
        # Every provider of the tier down: the other tier's fallbacks still answer (the large tier's only
        # while the budget allows it).
        candidates += ctx.fallbacks.get(other, ())
    chain: list[str] = []
    for model in candidates:
        if model and model not in chain and _usable(catalog, ctx, model):
            chain.append(model)
    return chain[:MAX_CHAIN]


def decide(
    features: dict[str, float],
    ctx: RoutingContext,
    classifier: PassClassifier,
    catalog: Catalog,
    *,
    conversation_id: str,
) -> RouteDecision:
    p = round(classifier.predict(features), 6)
    t = threshold(classifier, ctx, conversation_id)
    threshold_canary = ctx.subject_canary is not None and ctx.subject_canary.threshold_for(conversation_id) is not None
    tier, reason = _tier(p, t, ctx)
    first: str | None = None
    canary = False
    forced_small = reason in (RouteReason.SAFE_MODE, RouteReason.BUDGET)
    pin = catalog.get(ctx.pinned_model) if _usable(catalog, ctx, ctx.pinned_model) else None
    if pin is not None and not (forced_small and pin.tier == Tier.LARGE):
        # A pin names the model; only the budget can overrule it, and only towards the small tier.
        first, reason, tier = pin.name, RouteReason.PINNED, pin.tier
    elif ctx.agent_pinned and _usable(catalog, ctx, ctx.tier_models.get(tier)):
        first, reason = ctx.tier_models.get(tier), RouteReason.AGENT_PINNED
    elif ctx.canary is not None and ctx.canary.includes(conversation_id) and _usable(catalog, ctx, ctx.canary.model):
        info = catalog.require_in_region(ctx.canary.model, ctx.region)
        if info.tier == tier:
            first, reason, canary = ctx.canary.model, RouteReason.CANARY, True
    chain = chain_for(catalog, ctx, tier, first)
    if not chain and tier == Tier.LARGE:
        tier, reason = Tier.SMALL, RouteReason.NO_LARGE
        chain = chain_for(catalog, ctx, tier, None)
    if not chain:
        raise NoModelInRegion(ctx.region)
    return RouteDecision(
        tier=tier.value,
        chain=chain,
        reason=reason,
        p_small_pass=p,
        threshold=t,
        router_version=classifier.version,
        region=ctx.region,
        features=features,
        canary=canary,
        threshold_canary=threshold_canary,
    )
