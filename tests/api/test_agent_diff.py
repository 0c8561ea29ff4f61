"""`GET /v1/agents/{name}/diff` on the running platform: the last save's change by default, any two versions
on request, 404 for versions this tenant does not have (another tenant's included), 422 for malformed ones."""

from __future__ import annotations

import uuid

import httpx

from tests.api.helpers import error, fresh_tenant
from tests.e2e.platform import Platform

FIELDS = ("description", "system_prompt", "tools", "default_tier", "handoff_targets", "limits")


def _saved(api: httpx.Client) -> str:
    """A new agent with three versions: a prompt edit and then a description and limits edit."""
    name = f"desk-{uuid.uuid4().hex[:8]}"
    shipped = api.get("/v1/agents/support").json()
    body = {field: shipped[field] for field in FIELDS}
    body |= {"handoff_targets": [], "system_prompt": "Line one.\nLine two."}
    assert api.put(f"/v1/agents/{name}", json=body).status_code == 201
    assert api.patch(f"/v1/agents/{name}", json={"system_prompt": "Line one.\nLine 2."}).status_code == 201
    patched = api.patch(f"/v1/agents/{name}", json={"description": "v3", "limits": {"max_steps_per_turn": 2}})
    assert patched.status_code == 201
    return name


def test_the_default_is_what_the_last_save_changed(api: httpx.Client) -> None:
    name = _saved(api)
    diff = api.get(f"/v1/agents/{name}/diff")
    assert diff.status_code == 200, diff.text
    body = diff.json()
    assert (body["from_version"], body["to_version"], body["identical"]) == (2, 3, False)
    assert {c["field"]: c["after"] for c in body["changes"]} == {"description": "v3", "limits.max_steps_per_turn": "2"}
    assert body["prompt"] == []


def test_two_chosen_versions_show_the_prompt_lines(api: httpx.Client) -> None:
    name = _saved(api)
    body = api.get(f"/v1/agents/{name}/diff", params={"from": 1, "to": 2}).json()
    assert [(line["kind"], line["text"]) for line in body["prompt"] if line["kind"] != "hunk"] == [
        ("same", "Line one."),
        ("removed", "Line two."),
        ("added", "Line 2."),
    ]
    assert body["changes"] == [] and (body["tools_added"], body["tools_removed"]) == ([], [])
    assert api.get(f"/v1/agents/{name}/diff", params={"from": 3, "to": 3}).json()["identical"] is True
    # Against the shipped default of the same name: version 0 exists only where a default does.
    shipped = api.get("/v1/agents/support/diff", params={"from": 0, "to": 0}).json()
    assert shipped["identical"] is True and shipped["from_version"] == 0


def test_unknown_versions_and_agents_are_404_and_bad_versions_422(api: httpx.Client) -> None:
    name = _saved(api)
    assert "version 9" in error(api.get(f"/v1/agents/{name}/diff", params={"to": 9}), 404, "agent_not_found")["message"]
    error(api.get(f"/v1/agents/{name}/diff", params={"from": 0}), 404, "agent_not_found")  # no default of that name
    error(api.get("/v1/agents/nobody-here/diff"), 404, "agent_not_found")
    for bad in ({"from": -1}, {"to": "two"}, {"from": 2**40}):
        error(api.get(f"/v1/agents/{name}/diff", params=bad), 422, "invalid_request")


def test_another_tenant_sees_none_of_the_versions(api: httpx.Client, platform: Platform) -> None:
    name = _saved(api)
    with fresh_tenant(platform, "Diff intruder") as (_tenant_id, intruder):
        error(intruder.get(f"/v1/agents/{name}/diff"), 404, "agent_not_found")
        error(intruder.get(f"/v1/agents/{name}/diff", params={"from": 1, "to": 2}), 404, "agent_not_found")
        # Its own `support` has only the shipped default: tenant A's edits are not there to compare.
        error(intruder.get("/v1/agents/support/diff", params={"to": 1}), 404, "agent_not_found")
