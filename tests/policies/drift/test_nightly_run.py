"""One nightly drift run on the real platform: seeded turns in, a stored report, an event and advice out.

Two fresh tenants: A's night costs 1.5 times as much per token as its baseline (a provider's price change),
B's night is like its baseline; C's tool calls fail far more often on its one model. The platform's worker runs
`NightlyDriftWorkflow` for that night; then the API shows each tenant its own report only, A's owner applies the
safe-mode advice once, audited, and C's owner applies the advice to route away from the model that got worse.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from contracts.drift import NightlyDriftInput, NightlyDriftResult
from contracts.events import EventType
from contracts.names import WF_NIGHTLY_DRIFT
from core.events import EventBus
from db.database import Database
from tenancy.tenants import create_tenant
from tests.e2e.platform import Platform
from tests.policies.drift.seed import MODEL, NIGHT, seed_turns
from tests.workflows.tenant_lifecycle.clients import bearer, tenant_token

pytestmark = pytest.mark.timeout(240)


async def _tenant(platform: Platform, name: str) -> tuple[str, str]:
    settings = platform.settings
    created = await create_tenant(
        settings.database_url or "",
        name=f"{name} {uuid.uuid4().hex[:6]}",
        plan="pro",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    return created.tenant_id, created.api_key


def _client(platform: Platform, token: str) -> httpx.Client:
    return httpx.Client(base_url=platform.base_url, headers=bearer(token), timeout=30.0)


async def test_a_nightly_run_reports_drift_to_its_tenant_only_and_applies_advice_once(
    platform: Platform, app_database: Database, temporal: Client, redis: Redis
) -> None:
    tenant_a, key_a = await _tenant(platform, "Drifting")
    tenant_b, key_b = await _tenant(platform, "Steady")
    tenant_c, key_c = await _tenant(platform, "Failing tools")
    await seed_turns(app_database, tenant_a, price_factor=1.5, seed=1)
    await seed_turns(app_database, tenant_b, price_factor=1.0, seed=2)
    await seed_turns(app_database, tenant_c, price_factor=1.0, night_tool_errors=0.3, seed=3)

    result = await temporal.execute_workflow(
        WF_NIGHTLY_DRIFT,
        NightlyDriftInput(night=NIGHT, concurrency=3),
        id=f"platform:drift:test-{uuid.uuid4().hex[:8]}",
        task_queue=platform.settings.task_queue,
        result_type=NightlyDriftResult,
    )
    assert result.night == NIGHT and result.failed == [] and result.tenants >= 3 and result.detected >= 2

    with _client(platform, key_a) as api_a, _client(platform, key_b) as api_b:
        listed = api_a.get("/v1/drift/reports", params={"detected": "true"})
        assert listed.status_code == 200, listed.text
        [summary] = [r for r in listed.json()["items"] if r["night"] == NIGHT.isoformat()]
        assert summary["detected"] and summary["current_turns"] == 60 and summary["baseline_days"] == 14
        report = api_a.get(f"/v1/drift/reports/{summary['id']}").json()
        metrics = {f["metric"] for f in report["finding_details"]}
        assert "price_per_1k_tokens" in metrics, report["finding_details"]
        [cost] = report["costs"]
        effects = {k: Decimal(v) for k, v in cost["effects_usd"].items()}
        assert sum(effects.values()) == Decimal(cost["change_usd"]) and effects["price"] > 0
        [safe] = [a for a in report["advice_details"] if a["kind"] == "safe_mode"]

        steady = api_b.get("/v1/drift/reports").json()["items"]
        assert [r["detected"] for r in steady if r["night"] == NIGHT.isoformat()] == [False]
        # Another tenant's report does not exist for B: not to read, not to apply.
        assert summary["id"] not in {r["id"] for r in steady}
        assert api_b.get(f"/v1/drift/reports/{summary['id']}").status_code == 404
        stolen = api_b.post(f"/v1/drift/reports/{summary['id']}/advice/{safe['n']}/apply")
        assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "drift_report_not_found"

        with _client(platform, tenant_token(platform, tenant_a, "viewer")) as viewer:
            assert viewer.get(f"/v1/drift/reports/{summary['id']}").status_code == 200
            refused = viewer.post(f"/v1/drift/reports/{summary['id']}/advice/{safe['n']}/apply")
            assert refused.status_code == 403, refused.text

        applied = api_a.post(f"/v1/drift/reports/{summary['id']}/advice/{safe['n']}/apply")
        assert applied.status_code == 200, applied.text
        assert applied.json()["applied_at"] is not None
        budget = api_a.get("/v1/budgets").json()
        assert Decimal(budget["limits"]["daily_soft_usd"]) == Decimal(safe["params"]["daily_soft_usd"])
        again = api_a.post(f"/v1/drift/reports/{summary['id']}/advice/{safe['n']}/apply")
        assert again.status_code == 409 and again.json()["error"]["code"] == "advice_already_applied"
        audit = api_a.get("/v1/audit").json()["items"]
        assert any(e["action"] == "drift.advice_applied" for e in audit)
        assert api_b.get("/v1/budgets").json()["limits"]["daily_soft_usd"] is None

    with _client(platform, key_c) as api_c:
        _route_away_from_the_failing_model(api_c)

    events = await EventBus(redis).history(tenant_a, "_operations")
    assert [e.type for e in events].count(EventType.DRIFT_DETECTED) == 1


def _route_away_from_the_failing_model(api: httpx.Client) -> None:
    [summary] = [r for r in api.get("/v1/drift/reports").json()["items"] if r["night"] == NIGHT.isoformat()]
    report = api.get(f"/v1/drift/reports/{summary['id']}").json()
    routing = [a for a in report["advice_details"] if a["kind"] == "router_threshold"]
    [one_model] = [a for a in routing if a["params"]["model"] == MODEL]
    # Advice about all of an agent's models at once names no model to route away from: refused, not recorded.
    for every_model in (a for a in routing if a["params"]["model"] == "*"):
        refused = api.post(f"/v1/drift/reports/{summary['id']}/advice/{every_model['n']}/apply")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "advice_not_applicable"
    before = api.get("/v1/router/settings").json()
    assert MODEL not in before["forbidden_models"]
    applied = api.post(f"/v1/drift/reports/{summary['id']}/advice/{one_model['n']}/apply")
    assert applied.status_code == 200, applied.text
    assert api.get("/v1/router/settings").json()["forbidden_models"] == [*before["forbidden_models"], MODEL]
    [audited] = [e for e in api.get("/v1/audit").json()["items"] if e["action"] == "drift.advice_applied"]
    assert audited["details"]["router"]["forbidden_models"] == [MODEL]
    assert audited["details"]["previous_router"]["forbidden_models"] == before["forbidden_models"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/drift/reports/not-a-report", 404),
        # A well-formed id no report has (a fixed one: test ids must not change between collections).
        ("/v1/drift/reports/6f1c2a8e-93d4-4b7e-8a51-0c2f4e9b7d13", 404),
        ("/v1/drift/reports?limit=0", 422),
        ("/v1/drift/reports?detected=perhaps", 422),
        ("/v1/drift/reports?cursor=forged.cursor", 400),
    ],
)
def test_bad_requests_are_clear_errors(api: httpx.Client, path: str, status: int) -> None:
    response = api.get(path)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(("n", "status"), [("-1", 422), ("x", 422), ("101", 422)])
def test_bad_advice_numbers_are_refused(api: httpx.Client, n: str, status: int) -> None:
    response = api.post(f"/v1/drift/reports/{uuid.uuid4()}/advice/{n}/apply")
    assert response.status_code == status, response.text


def test_a_missing_report_has_no_advice_to_apply(api: httpx.Client) -> None:
    response = api.post(f"/v1/drift/reports/{uuid.uuid4()}/advice/0/apply")
    assert response.status_code == 404 and response.json()["error"]["code"] == "drift_report_not_found"
