"""Drafts through `/v1/agents` on the running platform: `draft=true` on `PUT` and `PATCH`, the versions listing's
`draft` and `active`, `PATCH ?base=` from a draft, and `POST .../versions/{n}/activate`; refused for another
tenant, for a viewer, and for malformed input, with nothing stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.helpers import client, error, every_item, fresh_tenant
from tests.e2e.platform import Platform

FIELDS = ("description", "system_prompt", "tools", "default_tier", "handoff_targets", "limits")


def _agent(api: httpx.Client, prompt: str = "Live.") -> tuple[str, dict[str, Any]]:
    name = f"desk-{uuid.uuid4().hex[:8]}"
    shipped = api.get("/v1/agents/support").json()
    body = {**{field: shipped[field] for field in FIELDS}, "handoff_targets": [], "system_prompt": prompt}
    saved = api.put(f"/v1/agents/{name}", json=body)
    assert saved.status_code == 201 and saved.json()["draft"] is False, saved.text
    return name, body


def _versions(api: httpx.Client, name: str) -> list[tuple[int, bool, bool]]:
    return [(v["version"], v["draft"], v["active"]) for v in every_item(api, f"/v1/agents/{name}/versions")]


def test_a_draft_is_saved_listed_and_diffed_while_the_active_version_answers(api: httpx.Client) -> None:
    name, body = _agent(api)
    drafted = api.put(f"/v1/agents/{name}", params={"draft": "true"}, json={**body, "system_prompt": "Trial."})
    assert drafted.status_code == 201, drafted.text
    assert (drafted.json()["version"], drafted.json()["draft"]) == (2, True)
    current = api.get(f"/v1/agents/{name}").json()
    assert (current["version"], current["system_prompt"], current["draft"]) == (1, "Live.", False)
    shown = api.get(f"/v1/agents/{name}", params={"version": 2}).json()
    assert (shown["system_prompt"], shown["draft"]) == ("Trial.", True)
    assert _versions(api, name) == [(2, True, False), (1, False, True)]
    listed = {a["name"]: a["version"] for a in every_item(api, "/v1/agents")}
    assert listed[name] == 1
    # A bare diff is the active version's last change; `to` a draft is what the draft would change.
    assert api.get(f"/v1/agents/{name}/diff").json()["to_version"] == 1
    would = api.get(f"/v1/agents/{name}/diff", params={"to": 2}).json()
    assert (would["from_version"], would["to_version"]) == (1, 2)
    assert [line["text"] for line in would["prompt"] if line["kind"] == "added"] == ["Trial."]


def test_patch_builds_on_the_active_version_or_a_named_base_and_a_draft_is_no_conflict(api: httpx.Client) -> None:
    name, _body = _agent(api)
    first = api.patch(f"/v1/agents/{name}", params={"draft": "true"}, json={"system_prompt": "Draft A."})
    assert (first.status_code, first.json()["version"]) == (201, 2), first.text
    # From the draft: its prompt is kept, the description changes, and it stays a draft.
    second = api.patch(f"/v1/agents/{name}", params={"draft": "true", "base": 2}, json={"description": "b"})
    assert second.status_code == 201, second.text
    assert (second.json()["version"], second.json()["system_prompt"], second.json()["draft"]) == (3, "Draft A.", True)
    # A plain patch builds on the active version (1), not on the newest draft, and is not a 409.
    plain = api.patch(f"/v1/agents/{name}", json={"description": "live edit"})
    assert plain.status_code == 201, plain.text
    assert (plain.json()["version"], plain.json()["system_prompt"], plain.json()["draft"]) == (4, "Live.", False)
    assert _versions(api, name) == [(4, False, True), (3, True, False), (2, True, False), (1, False, False)]
    error(api.patch(f"/v1/agents/{name}", params={"base": 9}, json={"description": "x"}), 404, "agent_not_found")


def test_activating_a_draft_makes_it_the_next_active_version(api: httpx.Client) -> None:
    name, body = _agent(api)
    api.put(f"/v1/agents/{name}", params={"draft": "true"}, json={**body, "system_prompt": "Trial."})
    activated = api.post(f"/v1/agents/{name}/versions/2/activate")
    assert activated.status_code == 201, activated.text
    assert (activated.json()["version"], activated.json()["system_prompt"], activated.json()["draft"]) == (
        3,
        "Trial.",
        False,
    )
    assert api.get(f"/v1/agents/{name}").json()["version"] == 3
    again = api.post(f"/v1/agents/{name}/versions/3/activate")
    assert (again.status_code, again.json()["version"]) == (200, 3)  # already active: nothing saved
    rolled = api.post(f"/v1/agents/{name}/versions/1/activate")  # a roll back is the same call
    assert (rolled.status_code, rolled.json()["version"], rolled.json()["system_prompt"]) == (201, 4, "Live.")
    audit = every_item(api, "/v1/audit", action="agent.saved")
    mine = [e["details"] for e in audit if e["target"] == name]
    assert [(d["version"], d.get("draft", False), d.get("restored_from")) for d in mine][:3] == [
        (4, False, 1),
        (3, False, 2),
        (2, True, None),
    ]


def test_activation_is_refused_for_unknown_versions_other_tenants_and_viewers(
    platform: Platform, api: httpx.Client
) -> None:
    name, body = _agent(api)
    api.put(f"/v1/agents/{name}", params={"draft": "true"}, json={**body, "system_prompt": "Trial."})
    error(api.post(f"/v1/agents/{name}/versions/7/activate"), 404, "agent_version_not_found")
    error(api.post("/v1/agents/nobody-here/versions/1/activate"), 404, "agent_version_not_found")
    for bad in ("-1", "two", str(2**40)):
        error(api.post(f"/v1/agents/{name}/versions/{bad}/activate"), 422, "invalid_request")
    error(api.post("/v1/agents/Not_A_Name!/versions/1/activate"), 422, "invalid_request")
    for flag in ("maybe", "2"):
        error(api.put(f"/v1/agents/{name}", params={"draft": flag}, json=body), 422, "invalid_request")
        error(api.patch(f"/v1/agents/{name}", params={"draft": flag}, json={"description": "x"}), 422)
    error(api.patch(f"/v1/agents/{name}", params={"base": -1}, json={"description": "x"}), 422, "invalid_request")
    with fresh_tenant(platform, "Activator") as (_tenant_id, other):
        error(other.post(f"/v1/agents/{name}/versions/2/activate"), 404, "agent_version_not_found")
        error(other.get(f"/v1/agents/{name}", params={"version": 2}), 404, "agent_not_found")
        error(other.patch(f"/v1/agents/{name}", params={"base": 2}, json={"description": "x"}), 404)
    viewer_key = api.post("/v1/api-keys", json={"name": "viewer", "role": "viewer"}).json()["api_key"]
    with client(platform, viewer_key) as viewer:
        error(viewer.post(f"/v1/agents/{name}/versions/2/activate"), 403, "forbidden")
        error(viewer.put(f"/v1/agents/{name}", params={"draft": "true"}, json=body), 403, "forbidden")
    assert _versions(api, name) == [(2, True, False), (1, False, True)]
