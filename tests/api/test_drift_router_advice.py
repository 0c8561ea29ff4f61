"""What `model_pin` and `router_threshold` drift advice changes in a tenant's router settings, and what it
refuses: advice about no single model, a model outside the tenant's data region, routing away from a pinned
model."""

from __future__ import annotations

import pytest

from api.drift_advice import advised_router_settings
from api.errors import ApiError
from policies.drift.detector import MODEL_PIN, ROUTER_THRESHOLD
from router.settings_store import RouterSettings, TenantRouting

EU, US_MODEL, EU_MODEL = "eu-west", "gpt-4o-mini", "azure/gpt-4o-mini-eu"


def routing(**settings: object) -> TenantRouting:
    return TenantRouting(plan="pro", region=EU, settings=RouterSettings(**settings))  # type: ignore[arg-type]


def refusal(kind: str, model: str, current: TenantRouting) -> str:
    with pytest.raises(ApiError) as caught:
        advised_router_settings(current, kind, {"agent": "support", "model": model}, "")
    assert caught.value.status == 409 and caught.value.code == "advice_not_applicable"
    return caught.value.message


def test_a_pin_replaces_the_pin_and_stops_forbidding_the_model() -> None:
    current = routing(pinned_model="scripted/agent", forbidden_models=(EU_MODEL, "scripted/echo"), quality_target=0.9)
    wanted = advised_router_settings(current, MODEL_PIN, {"agent": "support", "model": EU_MODEL}, "")
    assert wanted == RouterSettings(pinned_model=EU_MODEL, forbidden_models=("scripted/echo",), quality_target=0.9)


def test_routing_away_forbids_the_model_and_ends_its_canary() -> None:
    current = routing(forbidden_models=("scripted/echo",), canary_model=EU_MODEL, canary_share=0.2)
    wanted = advised_router_settings(
        current, ROUTER_THRESHOLD, {"agent": "support", "model": EU_MODEL, "metric": "error_rate"}, ""
    )
    assert wanted == RouterSettings(forbidden_models=("scripted/echo", EU_MODEL), canary_model=None, canary_share=0.0)


def test_advice_that_cannot_be_applied_is_refused_with_its_reason() -> None:
    assert "no single model" in refusal(ROUTER_THRESHOLD, "*", routing())
    assert "no single model" in refusal(MODEL_PIN, "", routing())
    assert "pins this model" in refusal(ROUTER_THRESHOLD, EU_MODEL, routing(pinned_model=EU_MODEL))
    assert "already" in refusal(ROUTER_THRESHOLD, EU_MODEL, routing(forbidden_models=(EU_MODEL,)))
    # A model that may not see this tenant's data is never pinned, whatever the advice says.
    assert US_MODEL in refusal(MODEL_PIN, US_MODEL, routing())
    assert "not-a-model" in refusal(MODEL_PIN, "not-a-model", routing())
