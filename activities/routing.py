"""`router.decide`: the routing decision of one model call, taken in a local activity so it is in history.

It reads what the decision needs (the turn's message and the one before it, the tenant's plan, region and
router settings, its budget mode and what is left of its hard limits), decides (`router.policy.decide`),
announces `route.decided` with the reason and counts it. The model activity then calls the decision's chain;
a retry or a replay reuses the recorded decision and never routes again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import structlog
from prometheus_client import Counter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents import transcripts
from agents.models.registry import agent_models, model_for
from contracts.conversation import Tier
from contracts.errors import ModelErrorType
from contracts.events import EventType
from contracts.names import ACT_ROUTE_DECIDE
from contracts.routing import RouteDecision, RouteInput
from core.events import EventBus
from core.settings import Settings
from db.database import Database
from policies.budgets import Budget, BudgetMode, LimitKind, Spend, load_budget, load_spend, mode_for
from policies.metering import Metering
from router import settings_store
from router.catalog import Catalog
from router.classifier import PassClassifier
from router.features import TurnContext, extract
from router.policy import NoModelInRegion, RoutingContext, decide
from router.settings_store import TenantRouting
from router.static_embedding import StaticEmbedder, shared
from router.versions import RouterCache

log = structlog.get_logger("aiaas.router")

ROUTE_DECISIONS = Counter("aiaas_route_decisions_total", "Routing decisions, by tier and reason", ["tier", "reason"])
# Decisions whose router reads the static embedding: read, or decided by the fallback router while the table
# is loading (not_ready) or could not be loaded (unavailable).
ROUTE_EMBEDDING = Counter(
    "aiaas_route_embedding_total", "Decisions of routers that read the static embedding, by outcome", ["outcome"]
)


def parse_fallbacks(raw: str) -> dict[Tier, tuple[str, ...]]:
    """`AIAAS_ROUTER_FALLBACKS`: {"small": [...], "large": [...]}, ordered; empty: no fallbacks."""
    if not raw:
        return {}
    parsed = json.loads(raw)
    if not isinstance(parsed, dict) or not all(isinstance(v, list) for v in parsed.values()):
        raise ValueError('AIAAS_ROUTER_FALLBACKS must be a JSON object like {"small": ["model", ...]}')
    return {Tier(k): tuple(str(m) for m in v) for k, v in parsed.items()}


class RoutingActivities:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        settings: Settings,
        *,
        metering: Metering | None = None,
        classifier: PassClassifier | None = None,
        catalog: Catalog | None = None,
        embedder: StaticEmbedder | None = None,
    ) -> None:
        self._db = db
        self._bus = bus
        self._settings = settings
        self._metering = metering
        # A tenant's own router when it has one (`aiaas router train --tenant`), else this global one.
        self._routers = RouterCache(db, classifier or PassClassifier.load(settings.router_artefact or None))
        self.catalog = catalog or Catalog.load(settings.router_catalog or None)
        self._fallbacks = parse_fallbacks(settings.router_fallbacks)
        # The process's static embedding (its table loaded once, in the background: `warm`).
        self.embedder = embedder or shared()

    async def classifier(
        self, tenant_id: str, version: str | None, features: dict[str, float], text: str
    ) -> tuple[PassClassifier, dict[str, float], str | None]:
        """The tenant's router and the features it reads; the third value names a fallback.

        A router that reads the static embedding gets the text's vector when the table is in memory. Until
        then it is never waited for (its first build takes tens of seconds, far over a local activity's
        timeout): the table starts loading in the background and the tenant's newest router without the
        embedding decides (`RouterCache.without_embedding`), the fallback named `embedding_not_ready`, or
        `embedding_unavailable` when the table cannot be loaded at all."""
        classifier = await self._routers.for_tenant(tenant_id, version)
        if not classifier.reads_embedding:
            return classifier, features, None
        if self.embedder.ready:
            ROUTE_EMBEDDING.labels(outcome="read").inc()
            return classifier, features | self.embedder.features(text), None
        self.embedder.warm()
        outcome = "unavailable" if self.embedder.failure is not None else "not_ready"
        ROUTE_EMBEDDING.labels(outcome=outcome).inc()
        if outcome == "unavailable":
            log.warning("static embedding unavailable", tenant_id=tenant_id, error=self.embedder.failure)
        return await self._routers.without_embedding(tenant_id), features, f"embedding_{outcome}"

    async def _reads(self, inp: RouteInput) -> tuple[list[str], TenantRouting, Budget | None, Spend | None]:
        """Everything the decision reads from Postgres, in one transaction: the customer's last two messages,
        the tenant's routing settings and, with metering, its budget and spend."""
        async with self._db.tenant_session(inp.tenant_id) as session:
            texts = await transcripts.last_user_texts(
                session, conversation_id=inp.conversation_id, up_to_message_id=inp.message_id, count=2
            )
            tenant = await settings_store.read(session, inp.tenant_id)
            budget = await load_budget(session, inp.tenant_id) if self._metering is not None else None
            spend = None
            if budget is not None and not budget.empty:
                spend = await load_spend(session, inp.tenant_id, datetime.now(UTC))
        return texts, tenant, budget, spend

    def _budget(
        self, budget: Budget | None, spend: Spend | None, large_model: str, prompt_tokens: int
    ) -> tuple[str, float | None, bool]:
        """The budget mode, the share of the tightest hard limit left, and whether a large call still fits.

        The mode is the one the cost guard computes (`CostGuard.mode`), from the budget and spend just read."""
        if self._metering is None or budget is None or spend is None:
            return BudgetMode.NORMAL.value, None, True
        mode = mode_for(budget, spend).value
        left: Decimal | None = None
        fraction: float | None = None
        for period, kind, limit in budget.limits():
            if kind != LimitKind.HARD or limit <= 0:
                continue
            remaining = limit - spend.committed(period)
            if left is None or remaining < left:
                left, fraction = remaining, float(remaining / limit)
        if left is None:
            return mode, None, True
        estimate = self._metering.pricing.estimate(
            large_model, prompt_tokens, self._settings.default_max_completion_tokens
        )
        return mode, max(fraction or 0.0, 0.0), left >= estimate

    @activity.defn(name=ACT_ROUTE_DECIDE)
    async def decide(self, inp: RouteInput) -> RouteDecision:
        texts, tenant, budget, spend = await self._reads(inp)
        text, previous = (texts[0] if texts else ""), (texts[1] if len(texts) > 1 else "")
        agent_pinned = inp.agent in agent_models(self._settings)
        # The tenant's own model for a tier (a promoted canary's) replaces the operator's, unless the operator
        # pinned the agent.
        tier_models = {
            tier: (None if agent_pinned else tenant.settings.tier_model(tier.value))
            or model_for(self._settings, inp.agent, tier)
            for tier in Tier
        }
        mode, left, large_ok = self._budget(budget, spend, tier_models[Tier.LARGE], len(text) // 4 + 1)
        ctx = RoutingContext(
            region=tenant.region,
            plan=tenant.plan,
            budget_mode=mode,
            budget_left_fraction=left,
            large_affordable=large_ok,
            pinned_model=tenant.settings.pinned_model,
            forbidden_models=frozenset(tenant.settings.forbidden_models),
            quality_target=tenant.settings.quality_target,
            tier_models=tier_models,
            agent_pinned=agent_pinned,
            fallbacks=self._fallbacks,
            canary=tenant.settings.canary(inp.tenant_id),
            threshold=tenant.settings.threshold,
            subject_canary=tenant.settings.subject_canary,
        )
        features = extract(
            text,
            TurnContext(
                tool_count=inp.tool_count,
                step=inp.step,
                depth=inp.depth,
                agent_large_default=inp.default_tier == Tier.LARGE,
                plan=tenant.plan,
            ),
            previous=previous,
        )
        try:
            classifier, features, router_fallback = await self.classifier(
                inp.tenant_id, tenant.router_version, features, text
            )
            decision = decide(features, ctx, classifier, self.catalog, conversation_id=inp.conversation_id)
        except NoModelInRegion as exc:
            raise ApplicationError(
                str(exc), {"region": exc.region}, type=ModelErrorType.NOT_FOUND, non_retryable=True
            ) from exc
        ROUTE_DECISIONS.labels(tier=decision.tier, reason=decision.reason.value).inc()
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.ROUTE_DECIDED,
            {
                "message_id": inp.message_id,
                "step": inp.step,
                "tier": decision.tier,
                "model": decision.model,
                "reason": decision.reason.value,
                "p_small_pass": decision.p_small_pass,
                "threshold": decision.threshold,
                "router_version": decision.router_version,
                # Why another router than the tenant's newest decided: embedding_not_ready, _unavailable.
                "router_fallback": router_fallback,
                "agent_version": inp.agent_version,
                # The canaries this turn is in the share of: model, agent_version, router_threshold.
                "canary": [
                    kind
                    for kind, applied in (
                        ("model", decision.canary),
                        ("agent_version", inp.agent_canary),
                        ("router_threshold", decision.threshold_canary),
                    )
                    if applied
                ],
            },
            dedup_key=f"{inp.message_id}:route:{inp.step}",
        )
        log.info(
            "route decided",
            tenant_id=inp.tenant_id,
            tier=decision.tier,
            reason=decision.reason.value,
            router_fallback=router_fallback,
        )
        return decision
