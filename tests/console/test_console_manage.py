"""The console's management pages against a real gateway: agents (edit, versions, roll back), usage charts,
budgets (set, and the API enforcing them), webhooks (register, ping, delivery log, redeliver), drift reports
and eval runs. Each page does what its `/v1` route does, with that route's permission.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.console.conftest import ConsoleGateway, new_tenant, open_circuit
from tests.console.console_client import Console, post_until, signed_in
from tests.console.drift_seed import SAFE_MODE_ADVICE, seed_drift_report
from tests.e2e.platform import Platform

# A public address literal: passes the SSRF check without DNS (deliveries to it just fail and retry).
PUBLIC_URL = "https://93.184.215.14/hooks"


@pytest.fixture(scope="module")
def tenant(platform: Platform) -> tuple[str, str]:
    return new_tenant(platform, "Console manage")


@pytest.fixture
def owner(console_gateway: ConsoleGateway, tenant: tuple[str, str]) -> Iterator[Console]:
    with signed_in(console_gateway.url, tenant[1]) as console:
        yield console


def _api(gateway: ConsoleGateway, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _prompt(page: str) -> str:
    found = re.search(r'<textarea name="system_prompt"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no prompt field on the agent page"
    return found.group(1)


def test_edit_an_agent_and_roll_it_back(
    console_gateway: ConsoleGateway, tenant: tuple[str, str], owner: Console
) -> None:
    listed = owner.get("/console/agents")
    assert listed.status_code == 200 and 'data-agent="support"' in listed.text
    shipped = owner.get("/console/agents/support")
    assert shipped.status_code == 200 and 'data-version="0"' in shipped.text
    original = _api(console_gateway, tenant[1]).get("/v1/agents/support").json()["system_prompt"]

    edited = owner.post(
        "/console/agents/support", {"system_prompt": "Answer in French.", "description": "edited", "tools": ""}
    )
    assert edited.status_code == 303, edited.text
    api = _api(console_gateway, tenant[1])
    now = api.get("/v1/agents/support").json()
    assert (now["version"], now["system_prompt"], now["tools"]) == (1, "Answer in French.", [])
    page = owner.get("/console/agents/support")
    assert _prompt(page.text) == "Answer in French." and 'data-current="1"' in page.text

    # The shipped default (version 0) is a row of the history; rolling back to it saves it as version 2.
    rolled = owner.post("/console/agents/support/versions/0/restore")
    assert rolled.status_code == 303, rolled.text
    back = api.get("/v1/agents/support").json()
    assert back["version"] == 2 and back["system_prompt"] == original
    versions = [v["version"] for v in api.get("/v1/agents/support/versions").json()["items"]]
    assert versions == [2, 1, 0]
    old = owner.get("/console/agents/support", params={"version": 1})
    assert "Answer in French." in old.text and "Roll back to this version" in old.text
    audit = api.get("/v1/audit", params={"action": "agent.saved"}).json()["items"]
    assert [e["details"]["version"] for e in audit][:2] == [2, 1]

    # Comparing: the roll back's change by default (1 -> 2), and any two versions on request.
    last = owner.get("/console/agents/support/diff")
    assert last.status_code == 200 and "version 1 to version 2" in last.text
    assert 'data-kind="removed">- Answer in French.' in last.text and 'data-field="description"' in last.text
    same = owner.get("/console/agents/support/diff", params={"from": 0, "to": 2})
    assert 'id="no-differences"' in same.text
    assert owner.get("/console/agents/support/diff", params={"to": 7}).status_code == 404
    assert "/console/agents/support/diff?from=1&amp;to=2" in owner.get("/console/agents/support").text

    bad = owner.post("/console/agents/support", {"system_prompt": "x", "tools": "no_such_tool"})
    assert bad.status_code == 422 and "agent_invalid" in bad.text
    assert owner.get("/console/agents/nobody").status_code == 404


def test_switch_a_tool_and_close_its_open_circuit(
    console_gateway: ConsoleGateway, platform: Platform, tenant: tuple[str, str], owner: Console
) -> None:
    tool = "leads.score"
    row = re.compile(rf'<tr data-tool="{re.escape(tool)}" data-enabled="(on|off)" data-breaker="(\w+)">')
    page = owner.get("/console/tools")
    assert page.status_code == 200 and row.findall(page.text) == [("on", "closed")]
    assert owner.post(f"/console/tools/{tool}", {"enabled": "off"}).status_code == 303
    listed = _api(console_gateway, tenant[1]).get("/v1/tools", params={"limit": 200}).json()["items"]
    assert [t["enabled"] for t in listed if t["name"] == tool] == [False]
    assert owner.post(f"/console/tools/{tool}", {"enabled": "on"}).status_code == 303
    assert owner.post(f"/console/tools/{tool}", {}).status_code == 422
    assert owner.post("/console/tools/orders.teleport", {"enabled": "off"}).status_code == 404

    open_circuit(platform, tenant[0], tool)
    opened = owner.get("/console/tools")
    assert row.findall(opened.text) == [("on", "open")] and "Close circuit" in opened.text
    assert owner.post(f"/console/tools/{tool}/breaker/reset").status_code == 303
    assert row.findall(owner.get("/console/tools").text) == [("on", "closed")]


def test_a_viewer_reads_agents_and_budgets_but_changes_neither(
    console_gateway: ConsoleGateway, tenant: tuple[str, str]
) -> None:
    created = _api(console_gateway, tenant[1]).post("/v1/api-keys", json={"name": "v", "role": "viewer"})
    with signed_in(console_gateway.url, created.json()["api_key"]) as viewer:
        assert viewer.get("/console/agents/support").status_code == 200
        assert viewer.get("/console/budgets").status_code == 200
        refused = viewer.post("/console/agents/support", {"system_prompt": "pwned"})
        assert refused.status_code == 403 and "agents:manage" in refused.text
        assert viewer.post("/console/budgets", {"daily_hard_usd": "0"}).status_code == 403
        assert viewer.post("/console/webhooks", {"url": PUBLIC_URL}).status_code == 403
        assert viewer.get("/console/tools").status_code == 200
        assert viewer.post("/console/tools/leads.score", {"enabled": "off"}).status_code == 403
        assert viewer.post("/console/tools/leads.score/breaker/reset").status_code == 403


def _wait_for_usage(api: httpx.Client) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = api.get("/v1/usage").json()
        if report["totals"]["calls"] >= 1:
            return report
        time.sleep(0.5)
    raise AssertionError("the turn's usage was never settled")


def test_usage_charts_and_a_budget_the_api_enforces(
    console_gateway: ConsoleGateway, platform: Platform, owner: Console
) -> None:
    # A tenant of its own: the agent test above may have changed the default agent meanwhile.
    _tenant_id, key = new_tenant(platform, "Console budget")
    api = _api(console_gateway, key)
    conversation = api.post("/v1/conversations", json={"agent": "support"}).json()["id"]
    assert api.post(f"/v1/conversations/{conversation}/messages", json={"content": "hello"}).status_code == 202
    report = _wait_for_usage(api)
    tokens = report["totals"]["prompt_tokens"] + report["totals"]["completion_tokens"]

    with signed_in(console_gateway.url, key) as console:
        page = console.get("/console/usage")
        assert page.status_code == 200 and 'id="chart-spend"' in page.text and 'id="chart-tokens"' in page.text
        # Thirty days, one bar each; today's bar carries the tokens the turn used.
        assert page.text.count("<rect ") == 60
        today = report["groups"][-1]["key"]
        assert re.search(rf'data-day="{today}" data-value="{tokens}"', page.text)
        assert console.get("/console/usage", params={"from": "2026-02-01", "to": "2026-01-01"}).status_code == 422

        assert "Mode: <b>normal</b>" in console.get("/console/budgets").text
        refused = console.post("/console/budgets", {"daily_soft_usd": "5", "daily_hard_usd": "1"})
        assert refused.status_code == 422 and "must not exceed" in refused.text
        assert console.post("/console/budgets", {"daily_hard_usd": "abc"}).status_code == 422
        saved = console.post("/console/budgets", {"daily_hard_usd": "0", "monthly_soft_usd": "100"})
        assert saved.status_code == 303
        page = console.get("/console/budgets")
        assert 'data-mode="blocked"' in page.text and 'value="100.000000"' in page.text
        blocked = post_until(api, conversation, 402)
        assert blocked.status_code == 402 and blocked.json()["error"]["code"] == "budget_exceeded"

        # Emptying the fields clears the limits, and the API takes messages again.
        assert console.post("/console/budgets", {}).status_code == 303
        assert api.get("/v1/budgets").json()["limits"]["daily_hard_usd"] is None
        assert post_until(api, conversation, 202).status_code == 202


def test_register_a_webhook_ping_it_and_redeliver(
    console_gateway: ConsoleGateway, tenant: tuple[str, str], owner: Console
) -> None:
    created = owner.post("/console/webhooks", {"url": PUBLIC_URL, "description": "crm"})
    assert created.status_code == 201 and "whsec_" in created.text
    endpoint = re.search(r'data-endpoint="([0-9a-f-]+)"', created.text)
    assert endpoint
    refused = owner.post("/console/webhooks", {"url": "http://127.0.0.1:8080/x"})
    assert refused.status_code == 422 and "private" in refused.text

    pinged = owner.post(f"/console/webhooks/endpoints/{endpoint.group(1)}/test")
    assert pinged.status_code == 303
    page = owner.get(pinged.headers["location"])
    delivery = re.search(r'data-delivery="([0-9a-f-]+)"', page.text)
    assert delivery, page.text
    detail = owner.get(f"/console/webhooks/deliveries/{delivery.group(1)}")
    assert detail.status_code == 200 and "Redeliver" in detail.text
    again = owner.post(f"/console/webhooks/deliveries/{delivery.group(1)}/redeliver")
    assert again.status_code == 303 and delivery.group(1) not in again.headers["location"]
    api = _api(console_gateway, tenant[1])
    listed = api.get("/v1/webhooks/deliveries", params={"endpoint_id": endpoint.group(1)}).json()["items"]
    assert len({d["message_id"] for d in listed}) == 1 and len(listed) == 2
    # The secret is never shown again.
    assert "whsec_" not in owner.get("/console/webhooks").text


def test_apply_drift_advice_with_one_click(console_gateway: ConsoleGateway, platform: Platform) -> None:
    # A tenant of its own: the module's tenant must have no drift report (see the next test).
    tenant_id, key = new_tenant(platform, "Console drift advice")
    rid = seed_drift_report(platform, tenant_id, [SAFE_MODE_ADVICE])
    api = _api(console_gateway, key)
    created = api.post("/v1/api-keys", json={"name": "ro", "role": "viewer"})
    with signed_in(console_gateway.url, created.json()["api_key"]) as viewer:
        assert 'class="apply-advice"' in viewer.get(f"/console/drift/{rid}").text
        refused = viewer.post(f"/console/drift/{rid}/advice/0/apply")
        assert refused.status_code == 403 and "tenant:write" in refused.text
    with signed_in(console_gateway.url, key) as owner:
        assert owner.post(f"/console/drift/{rid}/advice/0/apply").status_code == 303
        assert Decimal(str(api.get("/v1/budgets").json()["limits"]["daily_soft_usd"])) == Decimal("12.50")
        applied = owner.get(f"/console/drift/{rid}")
        assert 'class="apply-advice"' not in applied.text and "by " in applied.text
        again = owner.post(f"/console/drift/{rid}/advice/0/apply")
        assert again.status_code == 409 and "advice_already_applied" in again.text
        assert owner.post(f"/console/drift/{rid}/advice/5/apply").status_code == 404
    audit = api.get("/v1/audit", params={"action": "drift.advice_applied"}).json()["items"]
    assert [e["target"] for e in audit] == [f"drift_reports/{rid}/advice/0"]


def test_drift_and_eval_pages(owner: Console) -> None:
    drift = owner.get("/console/drift")
    assert drift.status_code == 200 and "No drift reports yet" in drift.text
    assert owner.get("/console/drift", params={"detected": "true"}).status_code == 200
    assert owner.get("/console/drift/not-a-report").status_code == 404
    evals = owner.get("/console/evals")
    assert evals.status_code == 200 and "No eval runs" in evals.text
    assert owner.get("/console/evals/00000000-0000-0000-0000-000000000000").status_code == 404
