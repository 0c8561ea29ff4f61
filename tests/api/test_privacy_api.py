"""`/v1/privacy` on the running platform: the default, a replacement that is audited, refusals, tenants apart."""

from __future__ import annotations

import httpx

from tests.api.helpers import client, error, fresh_tenant
from tests.e2e.platform import Platform

EVERY = ["card", "date", "email", "iban", "ip", "location", "national_id", "person", "phone", "url"]


def test_the_default_pseudonymises_everything_and_a_replacement_is_kept_and_audited(platform: Platform) -> None:
    with fresh_tenant(platform, "Privacy") as (_tenant_id, owner):
        default = owner.get("/v1/privacy")
        assert default.status_code == 200, default.text
        assert default.json() == {"provider_mode": "pseudonymise", "provider_entities": EVERY, "updated_at": None}
        put = owner.put("/v1/privacy", json={"provider_mode": "redact", "provider_entities": ["email", "card"]})
        assert put.status_code == 200, put.text
        assert put.json()["provider_entities"] == ["card", "email"] and put.json()["updated_at"]
        assert owner.get("/v1/privacy").json()["provider_mode"] == "redact"
        actions = [e["action"] for e in owner.get("/v1/audit").json()["items"]]
        assert "privacy.updated" in actions
        # `null` entities: every one again.
        assert owner.put("/v1/privacy", json={"provider_mode": "off"}).json()["provider_entities"] == EVERY


def test_bad_bodies_are_refused_and_viewers_may_only_read(platform: Platform) -> None:
    with fresh_tenant(platform, "Privacy refusals") as (_tenant_id, owner):
        for body in (
            {"provider_mode": "sometimes"},
            {"provider_entities": ["shoe_size"]},
            {"provider_mode": "off", "extra": 1},
            {"provider_entities": "email"},
        ):
            error(owner.put("/v1/privacy", json=body), 422)
        viewer_key = owner.post("/v1/api-keys", json={"name": "viewer", "role": "viewer"}).json()["api_key"]
        with client(platform, viewer_key) as viewer:
            assert viewer.get("/v1/privacy").status_code == 200
            error(viewer.put("/v1/privacy", json={"provider_mode": "off"}), 403, "forbidden")
        assert owner.get("/v1/privacy").json()["provider_mode"] == "pseudonymise"


def test_one_tenants_policy_is_never_anothers(platform: Platform, api: httpx.Client, api_b: httpx.Client) -> None:
    assert api.put("/v1/privacy", json={"provider_mode": "off", "provider_entities": ["email"]}).status_code == 200
    theirs = api_b.get("/v1/privacy").json()
    assert theirs["provider_mode"] == "pseudonymise" and theirs["provider_entities"] == EVERY
    assert api_b.put("/v1/privacy", json={"provider_mode": "redact"}).status_code == 200
    assert api.get("/v1/privacy").json()["provider_mode"] == "off"
    api.put("/v1/privacy", json={"provider_mode": "pseudonymise"})
