"""`router.decide` and the routed model call on the real database and Redis: the decision announced and
counted, the tenant's region and settings obeyed, a fallback announced and the answering model billed."""

from __future__ import annotations

import dataclasses
import json
import uuid
from decimal import Decimal

import asyncpg
import pytest
from redis.asyncio import Redis
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.model_call import ModelActivities
from activities.routing import ROUTE_DECISIONS, RoutingActivities
from contracts.canary import RouterThresholdSubject
from contracts.conversation import ModelCallInput
from contracts.routing import RouteInput, RouteReason
from core.events import EventBus
from core.settings import Settings
from db.database import Database, run_sql
from policies.budgets import Budget, save_budget
from policies.circuit_breaker import CircuitBreaker
from policies.metering import build_metering
from router import settings_store, versions
from router.canary import SubjectCanary, assignment
from router.catalog import ModelNotInRegion
from router.classifier import PassClassifier
from router.health import PROVIDERS
from router.settings_store import RouterSettings
from tests.agents.conftest import AGENT_TOOLS
from tests.agents.test_model_activity import _turn
from tests.router.test_policy import _classifier

FALLBACKS = json.dumps(
    {"small": ["azure/gpt-4o-mini-eu", "gpt-4o-mini", "scripted/echo"], "large": ["gpt-4o", "azure/gpt-4o-eu"]}
)


def _settings(migrated: Settings, **changes: object) -> Settings:
    base = {"model_small": "scripted/agent", "model_large": "", "agent_models": "", "router_fallbacks": FALLBACKS}
    return migrated.model_copy(update={**base, **changes})


async def _set_region(migrated: Settings, tenant: str, region: str) -> None:
    # The region is fixed at creation through the admin API; here the owner's connection sets it directly.
    conn = await asyncpg.connect(migrated.database_url or "")
    try:
        await conn.execute("UPDATE tenants SET data_region = $1 WHERE id = $2", region, tenant)
    finally:
        await conn.close()


def _route(tenant: str, conversation_id: str, message_id: str) -> RouteInput:
    return RouteInput(tenant_id=tenant, conversation_id=conversation_id, message_id=message_id, agent="support")


async def test_a_decision_is_announced_counted_and_stays_in_the_region(
    db: Database, bus: EventBus, migrated: Settings, tenant: str
) -> None:
    routing = RoutingActivities(db, bus, _settings(migrated), classifier=_classifier(0.9))
    conversation_id, message_id = await _turn(db, tenant, "Where is my order?")
    before = ROUTE_DECISIONS.labels(tier="small", reason="classifier")._value.get()
    decision = await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))
    assert decision.region == "eu-west" and decision.reason == RouteReason.CLASSIFIER
    assert "gpt-4o-mini" not in decision.chain and "gpt-4o" not in decision.chain
    assert decision.features["signal_lookup"] > 0 and decision.router_version == "test"
    assert decision.tier == "small" and decision.p_small_pass == pytest.approx(0.9) and decision.threshold == 0.4
    assert decision.chain[:3] == ["scripted/agent", "azure/gpt-4o-mini-eu", "scripted/echo"]
    assert ROUTE_DECISIONS.labels(tier="small", reason="classifier")._value.get() == before + 1
    events = [e for e in await bus.history(tenant, conversation_id) if e.type == "route.decided"]
    assert len(events) == 1 and events[0].data["model"] == decision.model
    assert events[0].data["reason"] == "classifier" and events[0].data["p_small_pass"] == decision.p_small_pass

    await _set_region(migrated, tenant, "us-east")
    us = await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))
    assert us.region == "us-east" and "azure/gpt-4o-mini-eu" not in us.chain
    assert routing.catalog.allowed("gpt-4o-mini", "us-east") and all(
        routing.catalog.allowed(m, "us-east") for m in us.chain
    )


async def test_tenant_settings_pin_forbid_and_refuse_models_outside_the_region(
    db: Database, bus: EventBus, migrated: Settings, tenant: str
) -> None:
    routing = RoutingActivities(db, bus, _settings(migrated))
    with pytest.raises(ModelNotInRegion):
        await settings_store.save(db, tenant, RouterSettings(pinned_model="gpt-4o"), routing.catalog)
    await settings_store.save(
        db,
        tenant,
        RouterSettings(pinned_model="scripted/echo", forbidden_models=("azure/gpt-4o-mini-eu",)),
        routing.catalog,
    )
    conversation_id, message_id = await _turn(db, tenant, "Implement a sorting algorithm and prove it correct")
    decision = await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))
    assert decision.model == "scripted/echo" and decision.reason == RouteReason.PINNED
    assert "azure/gpt-4o-mini-eu" not in decision.chain

    # A canary for every conversation routed small: the canary model answers, and says so.
    await settings_store.save(
        db, tenant, RouterSettings(canary_model="scripted/echo", canary_share=1.0), routing.catalog
    )
    small = RoutingActivities(db, bus, _settings(migrated), classifier=_classifier(0.9))
    canary = await ActivityEnvironment().run(small.decide, _route(tenant, conversation_id, message_id))
    assert canary.canary and canary.model == "scripted/echo" and canary.reason == RouteReason.CANARY
    assert canary.router_version == "test"

    # The tenant's own router, once stored, decides instead of the global one.
    own = PassClassifier.load().to_json()
    version = await versions.store(db, tenant, PassClassifier.from_json({**own, "version": "v1-own"}))
    routed = await ActivityEnvironment().run(small.decide, _route(tenant, conversation_id, message_id))
    assert version == "v1-own" and routed.router_version == "v1-own"


async def test_a_tenant_over_its_soft_budget_is_routed_small_and_one_without_a_model_is_refused(
    db: Database, bus: EventBus, redis: Redis, migrated: Settings, tenant: str
) -> None:
    settings = _settings(migrated, model_large="scripted/echo")
    metering = build_metering(db, redis, bus, settings)
    async with db.tenant_session(tenant) as session:
        await save_budget(session, tenant, Budget(monthly_soft_usd=Decimal("0")))
    routing = RoutingActivities(db, bus, settings, metering=metering)
    conversation_id, message_id = await _turn(db, tenant, "Solve the integral and prove the theorem step by step")
    decision = await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))
    assert (decision.tier, decision.reason) == ("small", RouteReason.SAFE_MODE)
    assert "gpt-4o" not in decision.chain and "azure/gpt-4o-eu" not in decision.chain

    # Only models that may not see this tenant's data: no answer rather than one from abroad.
    abroad = RoutingActivities(db, bus, _settings(migrated, model_small="gpt-4o-mini", router_fallbacks=""))
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(abroad.decide, _route(tenant, conversation_id, message_id))
    assert refused.value.non_retryable and refused.value.type == "ModelNotFound"


async def test_a_failing_model_falls_back_and_the_answering_model_is_billed(
    db: Database, bus: EventBus, redis: Redis, migrated: Settings, tenant: str
) -> None:
    await CircuitBreaker(redis).reset(PROVIDERS, "scripted/error-429")
    prices = {"scripted/echo": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}}
    settings = _settings(migrated, model_small="scripted/error-429", model_prices=json.dumps(prices))
    metering = build_metering(db, redis, bus, settings)
    routing = RoutingActivities(db, bus, settings, metering=metering)
    conversation_id, message_id = await _turn(db, tenant, "hello there", agent="Legacy.Agent")
    decision = await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))
    decision = decision.model_copy(update={"chain": ["scripted/error-429", "scripted/echo"]})
    model = ModelActivities(db, bus, settings, registry=AGENT_TOOLS, metering=metering, redis=redis)
    inp = ModelCallInput(
        tenant_id=tenant, conversation_id=conversation_id, message_id=message_id, agent="Legacy.Agent", route=decision
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=f"{tenant}:conv:{uuid.uuid4()}")
    result = await env.run(model.complete, inp)
    assert result.content == "echo: hello there" and result.model == "scripted/echo"
    expected = metering.pricing.cost("scripted/echo", result.prompt_tokens, result.completion_tokens)
    assert Decimal(str(result.cost_usd)) == expected
    moves = [e.data for e in await bus.history(tenant, conversation_id) if e.type == "model.fallback"]
    assert moves == [
        {
            "message_id": message_id,
            "step": 0,
            "from": "scripted/error-429",
            "to": "scripted/echo",
            "cause": "ModelRateLimited",
        }
    ]
    async with db.tenant_session(tenant) as session:
        row = (
            await run_sql(session, "SELECT model, cost_usd FROM usage_ledger WHERE tenant_id = :t", {"t": tenant})
        ).one()
    assert row.model == "scripted/echo" and row.cost_usd == expected


async def test_a_promoted_canary_model_routes_its_tier_unless_the_agent_is_pinned(
    db: Database, bus: EventBus, migrated: Settings, tenant: str
) -> None:
    routing = RoutingActivities(db, bus, _settings(migrated), classifier=_classifier(0.9))
    conversation_id, message_id = await _turn(db, tenant, "Where is my order?")
    async with db.tenant_session(tenant) as session:
        await settings_store.promote_canary(session, tenant, "small", "azure/gpt-4o-mini-eu")
    decision = await ActivityEnvironment().run(routing.decide, _route(tenant, conversation_id, message_id))
    assert decision.model == "azure/gpt-4o-mini-eu" and decision.reason == RouteReason.CLASSIFIER
    # A PUT of the settings leaves the tenant's own tier model as it is.
    saved = await settings_store.save(db, tenant, RouterSettings(quality_target=0.9), routing.catalog)
    assert saved.settings.tier_model("small") == "azure/gpt-4o-mini-eu"
    assert (await settings_store.load(db, tenant)).settings.tier_model("small") == "azure/gpt-4o-mini-eu"
    operator_pin = _settings(migrated, agent_models=json.dumps({"support": "scripted/agent"}))
    pinned = RoutingActivities(db, bus, operator_pin, classifier=_classifier(0.9))
    decision = await ActivityEnvironment().run(pinned.decide, _route(tenant, conversation_id, message_id))
    assert decision.model == "scripted/agent"


async def test_a_threshold_canary_decides_its_share_with_its_threshold_and_says_so(
    db: Database, bus: EventBus, migrated: Settings, tenant: str, other_tenant: str
) -> None:
    routing = RoutingActivities(db, bus, _settings(migrated, model_large="scripted/echo"), classifier=_classifier(0.9))
    trial = assignment(tenant, RouterThresholdSubject(threshold=0.95), 0.5)
    assert isinstance(trial, SubjectCanary)
    async with db.tenant_session(tenant) as session:
        await settings_store.set_subject_canary(session, tenant, trial)
    turns = [await _turn(db, tenant, "Where is my order?") for _ in range(12)]
    inside = next(t for t in turns if trial.includes(t[0]))
    outside = next(t for t in turns if not trial.includes(t[0]))

    tried = await ActivityEnvironment().run(routing.decide, _route(tenant, *inside))
    kept = await ActivityEnvironment().run(routing.decide, _route(tenant, *outside))
    # p = 0.9: large under the candidate 0.95, small under the tenant's 0.4 (its curve at its plan's target).
    assert (tried.tier, tried.threshold, tried.threshold_canary) == ("large", 0.95, True)
    assert (kept.tier, kept.threshold, kept.threshold_canary) == ("small", 0.4, False)
    decided = [e.data for e in await bus.history(tenant, inside[0]) if e.type == "route.decided"]
    assert decided[-1]["canary"] == ["router_threshold"] and decided[-1]["threshold"] == 0.95
    assert [e.data["canary"] for e in await bus.history(tenant, outside[0]) if e.type == "route.decided"] == [[]]

    # Promoted: the tenant's own threshold decides every conversation; another tenant keeps its curve's.
    async with db.tenant_session(tenant) as session:
        await settings_store.set_threshold(session, tenant, 0.95)
        await settings_store.end_subject_canary(session, tenant, trial.id)
    after = await ActivityEnvironment().run(routing.decide, _route(tenant, *outside))
    assert (after.tier, after.threshold, after.threshold_canary) == ("large", 0.95, False)
    theirs = await _turn(db, other_tenant, "Where is my order?")
    assert (await ActivityEnvironment().run(routing.decide, _route(other_tenant, *theirs))).threshold == 0.4
