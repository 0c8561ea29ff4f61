"""`PUT` and `PATCH /v1/agents/{name}` on the running platform: a full replace that never fills in what it was not
sent, and a merge that keeps what it was not sent."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.helpers import client, error, every_item, fresh_tenant
from tests.e2e.platform import Platform

FIELDS = ("description", "system_prompt", "tools", "default_tier", "handoff_targets", "limits")


def _name() -> str:
    return f"desk-{uuid.uuid4().hex[:8]}"


def _definition(agent: dict[str, Any]) -> dict[str, Any]:
    return {field: agent[field] for field in FIELDS}


def _versions(api: httpx.Client, name: str) -> list[int]:
    return [v["version"] for v in every_item(api, f"/v1/agents/{name}/versions")]


def test_put_needs_every_field_and_stores_nothing_without_them(api: httpx.Client) -> None:
    name = _name()
    full = {**_definition(api.get("/v1/agents/support").json()), "handoff_targets": []}
    assert api.put(f"/v1/agents/{name}", json=full).status_code == 201
    for missing in FIELDS:
        partial = {k: v for k, v in full.items() if k != missing}
        details = error(api.put(f"/v1/agents/{name}", json=partial), 422, "invalid_request")["details"]
        assert ["body", missing] in [e["loc"] for e in details], details
    short_limits = {**full, "limits": {"max_steps_per_turn": 4}}
    error(api.put(f"/v1/agents/{name}", json=short_limits), 422, "invalid_request")
    assert _versions(api, name) == [1]
    # What a GET answers, less what is the server's, is a valid PUT body.
    again = api.put(f"/v1/agents/{name}", json=_definition(api.get(f"/v1/agents/{name}").json()))
    assert again.status_code == 201 and _definition(again.json()) == full


def test_patch_changes_only_what_it_names(api: httpx.Client) -> None:
    name = _name()
    full = {**_definition(api.get("/v1/agents/orders").json()), "handoff_targets": ["support"]}
    before = api.put(f"/v1/agents/{name}", json=full).json()
    patched = api.patch(f"/v1/agents/{name}", json={"description": "new desk", "limits": {"max_steps_per_turn": 3}})
    assert patched.status_code == 201, patched.text
    after = patched.json()
    assert after["version"] == before["version"] + 1
    assert after["description"] == "new desk" and after["limits"]["max_steps_per_turn"] == 3
    unchanged = {"max_steps_per_turn", "description"}
    assert {k: v for k, v in after["limits"].items() if k not in unchanged} == {
        k: v for k, v in before["limits"].items() if k not in unchanged
    }
    for field in ("system_prompt", "tools", "default_tier", "handoff_targets"):
        assert after[field] == before[field], field
    merge_patch = api.patch(
        f"/v1/agents/{name}", content=b'{"tools": []}', headers={"Content-Type": "application/merge-patch+json"}
    )
    assert merge_patch.status_code == 201 and merge_patch.json()["tools"] == []
    assert _versions(api, name) == [3, 2, 1]


def test_patching_a_shipped_agent_starts_from_the_shipped_definition(platform: Platform) -> None:
    with fresh_tenant(platform, "Patch shipped") as (_tenant_id, owner):
        shipped = owner.get("/v1/agents/leads").json()
        patched = owner.patch("/v1/agents/leads", json={"system_prompt": "Qualify leads, politely."})
        assert patched.status_code == 201, patched.text
        assert (patched.json()["version"], patched.json()["source"]) == (1, "tenant")
        assert {**_definition(patched.json()), "system_prompt": shipped["system_prompt"]} == _definition(shipped)


def test_bad_patches_are_refused_and_store_nothing(api: httpx.Client) -> None:
    name = _name()
    full = {**_definition(api.get("/v1/agents/support").json()), "handoff_targets": []}
    assert api.put(f"/v1/agents/{name}", json=full).status_code == 201
    for body in (
        {"tools": None},
        {"limits": {"max_steps_per_turn": None}},
        {"system_prompt": ""},
        {"limits": {"max_steps_per_turn": 0}},
        {"name": "renamed"},
        {"version": 9},
        [],
    ):
        error(api.patch(f"/v1/agents/{name}", json=body), 422, "invalid_request")
    details = error(api.patch(f"/v1/agents/{name}", json={"tools": ["orders.nope"]}), 422, "agent_invalid")["details"]
    assert details["problems"][0]["problem"] == "unknown_tool"
    error(api.patch(f"/v1/agents/{name}", content=b"tools=x", headers={"Content-Type": "text/plain"}), 415)
    error(api.patch(f"/v1/agents/{_name()}", json={"description": "x"}), 404, "agent_not_found")
    assert _versions(api, name) == [1]


def test_another_tenant_cannot_patch_and_a_viewer_may_not(platform: Platform, api: httpx.Client) -> None:
    name = _name()
    full = {**_definition(api.get("/v1/agents/support").json()), "handoff_targets": []}
    assert api.put(f"/v1/agents/{name}", json=full).status_code == 201
    with fresh_tenant(platform, "Patcher") as (_tenant_id, other):
        error(other.patch(f"/v1/agents/{name}", json={"description": "mine now"}), 404, "agent_not_found")
    viewer_key = api.post("/v1/api-keys", json={"name": "viewer", "role": "viewer"}).json()["api_key"]
    with client(platform, viewer_key) as viewer:
        error(viewer.patch(f"/v1/agents/{name}", json={"description": "x"}), 403, "forbidden")
    assert _versions(api, name) == [1] and api.get(f"/v1/agents/{name}").json()["description"] == full["description"]
