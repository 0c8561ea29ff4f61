"""`/v1/router/canaries` for an agent version and a routing threshold, through the gateway's app with the
platform's worker: a started canary sets the router's share and answers with its subject; an unknown agent
or version, another tenant's agent included, is 404; a threshold outside (0, 1) or an agent version already
active is 422; another tenant's key never reads or aborts the canary."""

from __future__ import annotations

from typing import Any

import httpx

from tests.router.test_canary_api import CANARIES, Clients, _code, _json, clients  # noqa: F401 - the fixture

AGENT = {"description": "support desk", "tools": [], "default_tier": "small", "handoff_targets": []}
LIMITS = {
    "max_steps_per_turn": 6,
    "max_steps_per_conversation": 60,
    "no_progress_repeats": 3,
    "oscillation_window": 6,
    "max_tokens_per_turn": 20_000,
    "max_cost_usd_per_turn": 0.5,
}


async def _save_agent(client: httpx.AsyncClient, name: str, prompt: str) -> int:
    body = {**AGENT, "system_prompt": prompt, "limits": LIMITS}
    saved = await client.put(f"/v1/agents/{name}", json=body)
    assert saved.status_code == 201, saved.text
    return int(saved.json()["version"])


def _agent_trial(agent: str, version: int, **extra: Any) -> dict[str, Any]:
    return {
        "subject": {"kind": "agent_version", "agent": agent, "version": version},
        "share": 0.3,
        "check_every_minutes": 60,
        **extra,
    }


async def test_an_agent_version_canary_starts_with_its_control_and_aborts(clients: Clients) -> None:  # noqa: F811
    owner, stranger = await clients(), await clients()
    assert await _save_agent(owner, "desk", "Answer in English.") == 1
    assert await _save_agent(owner, "desk", "Answer in French.") == 2

    started = await owner.post(CANARIES, json=_agent_trial("desk", 1))
    assert started.status_code == 202, started.text
    canary = started.json()
    assert canary["subject"] == {"kind": "agent_version", "agent": "desk", "version": 1, "control_version": 2}
    assert canary["model"] == "" and canary["tier"] == "" and canary["status"] == "running"

    # Another tenant's key: the canary does not exist for it.
    assert (await stranger.get(f"{CANARIES}/{canary['id']}")).status_code == 404
    refused = await stranger.post(f"{CANARIES}/{canary['id']}/abort")
    assert refused.status_code == 404 and _code(refused) == "canary_not_found"
    assert (await _json(stranger, CANARIES))["items"] == []

    aborted = await owner.post(f"{CANARIES}/{canary['id']}/abort", json={"reason": "prompt not ready"})
    assert aborted.status_code == 200 and aborted.json()["status"] == "rolled_back", aborted.text
    # Rolled back: the active version is still the newest, nothing was saved.
    versions = (await _json(owner, "/v1/agents/desk/versions"))["items"]
    assert [v["version"] for v in versions] == [2, 1]
    actions = [e["action"] for e in (await _json(owner, "/v1/audit"))["items"]]
    assert "router.canary_started" in actions and "router.canary_rolled_back" in actions


async def test_unknown_or_foreign_agent_versions_are_404_and_bad_subjects_422(clients: Clients) -> None:  # noqa: F811
    owner, other = await clients(), await clients()
    await _save_agent(owner, "desk", "Answer in English.")
    await _save_agent(other, "private", "Another tenant's agent.")
    await _save_agent(other, "private", "Another tenant's agent, again.")

    for body in (
        _agent_trial("desk", 7),  # no such version
        _agent_trial("ghost", 1),  # no such agent
        _agent_trial("private", 1),  # another tenant's agent and version
    ):
        response = await owner.post(CANARIES, json=body)
        assert response.status_code == 404, (body, response.text)
        assert _code(response) == "agent_not_found"
        assert set(response.json()["error"]) >= {"code", "message"}

    for body in (
        _agent_trial("desk", 1),  # already the active version
        _agent_trial("desk", 1, control_model="scripted/echo"),  # a model's field on another kind
        _agent_trial("Desk!", 1),
        _agent_trial("desk", -1),
        {"subject": {"kind": "router_threshold", "threshold": 1.5}, "share": 0.2},
        {"subject": {"kind": "router_threshold", "threshold": 1}, "share": 0.2},
        {"subject": {"kind": "router_threshold", "threshold": 0}, "share": 0.2},
        {"subject": {"kind": "router_threshold", "threshold": "high"}, "share": 0.2},
        {"subject": {"kind": "router_threshold"}, "share": 0.2},
        {"subject": {"kind": "prompt", "agent": "desk"}, "share": 0.2},
        {"model": "scripted/agent", "subject": {"kind": "router_threshold", "threshold": 0.5}, "share": 0.2},
    ):
        response = await owner.post(CANARIES, json=body)
        assert response.status_code == 422, (body, response.text)
        assert _code(response) == "invalid_request"
    assert (await _json(owner, CANARIES))["items"] == []
    # The shipped default is version 0: active while the tenant saved no version of its own, then triable.
    assert (await owner.post(CANARIES, json=_agent_trial("support", 0))).status_code == 422
    await _save_agent(owner, "support", "Our own support prompt.")
    shipped = await owner.post(CANARIES, json=_agent_trial("support", 0))
    assert shipped.status_code == 202, shipped.text
    assert shipped.json()["subject"]["control_version"] == 1
    assert (await owner.post(f"{CANARIES}/{shipped.json()['id']}/abort")).status_code == 200


async def test_a_threshold_canary_starts_and_rolls_back_leaving_the_tenants_threshold(
    clients: Clients,  # noqa: F811
) -> None:
    owner = await clients()
    started = await owner.post(
        CANARIES, json={"subject": {"kind": "router_threshold", "threshold": 0.35}, "share": 0.25}
    )
    assert started.status_code == 202, started.text
    canary = started.json()
    assert canary["subject"] == {"kind": "router_threshold", "threshold": 0.35}
    again = await owner.post(CANARIES, json={"model": "scripted/agent", "share": 0.1})
    assert again.status_code == 409 and _code(again) == "canary_running"
    aborted = await owner.post(f"{CANARIES}/{canary['id']}/abort")
    assert aborted.status_code == 200 and aborted.json()["status"] == "rolled_back", aborted.text
    assert (await _json(owner, "/v1/router/settings"))["threshold"] is None
