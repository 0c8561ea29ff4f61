"""`/v1/channels` on the running platform: configuration with credentials sealed and never returned, the
role it needs, validation, and tenant B's key and tenant id on every one of tenant A's channels."""

from __future__ import annotations

import httpx

from tests.channels import helpers as h
from tests.e2e.platform import Platform


def test_secrets_are_never_returned_and_writes_validate(api: httpx.Client) -> None:
    created = h.make_channel(api, "slack", secret=h.SLACK_SECRET, token=h.SLACK_BOT, settings={"team_id": "T1"})
    assert created["has_secret"] and created["has_token"]
    assert created["inbound_url"].endswith(f"/{created['id']}/slack")
    for response in (api.get(f"/v1/channels/{created['id']}"), api.get("/v1/channels", params={"limit": 200})):
        assert response.status_code == 200
        assert h.SLACK_SECRET not in response.text and h.SLACK_BOT not in response.text
    whatsapp = h.make_channel(api, "whatsapp", secret=h.META_SECRET, verify_token="verify-token-1")
    assert "verify_token_sha256" not in whatsapp["settings"] and "verify-token-1" not in str(whatsapp)

    patched = api.patch(f"/v1/channels/{created['id']}", json={"enabled": False, "secret": "rotated-secret-01"})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert "rotated-secret-01" not in patched.text

    refusals = [
        {"kind": "sms", "name": "no secret"},
        {"kind": "fax", "name": "x", "secret": "s" * 10},
        {"kind": "sms", "name": "x", "secret": "s" * 10, "settings": {"team_id": "T1"}},
        {"kind": "widget", "name": "x"},
        {"kind": "widget", "name": "x", "allowed_origins": ["https://shop.example/path"]},
        {"kind": "sms", "name": "x", "secret": "s" * 10, "unknown": 1},
    ]
    for body in refusals:
        refused = api.post("/v1/channels", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert set(refused.json()["error"]) == {"code", "message", "details"}
    no_agent = api.post("/v1/channels", json={"kind": "sms", "name": "x", "secret": "s" * 10, "agent": "nobody"})
    assert no_agent.status_code == 422 and no_agent.json()["error"]["code"] == "agent_not_found"

    assert api.delete(f"/v1/channels/{created['id']}").status_code == 204
    assert api.get(f"/v1/channels/{created['id']}").status_code == 404


def test_a_developer_key_cannot_manage_channels(platform: Platform, api: httpx.Client) -> None:
    key = api.post("/v1/api-keys", json={"name": "dev", "role": "developer"})
    assert key.status_code == 201, key.text
    headers = {"Authorization": f"Bearer {key.json()['api_key']}"}
    with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30) as developer:
        assert developer.get("/v1/channels").status_code == 403
        body = {"kind": "sms", "name": "x", "secret": "s" * 10}
        assert developer.post("/v1/channels", json=body).status_code == 403


def test_tenant_b_cannot_reach_tenant_a_channels(
    platform: Platform, api: httpx.Client, api_b: httpx.Client, tenant_b: tuple[str, str]
) -> None:
    channel = h.make_channel(api, "sms", secret=h.SMS_TOKEN, settings={"account_sid": "AC1"})
    cid = channel["id"]
    assert api_b.get(f"/v1/channels/{cid}").status_code == 404
    assert api_b.patch(f"/v1/channels/{cid}", json={"enabled": False}).status_code == 404
    assert api_b.delete(f"/v1/channels/{cid}").status_code == 404
    assert cid not in api_b.get("/v1/channels", params={"limit": 200}).text
    assert api.get(f"/v1/channels/{cid}").json()["enabled"] is True

    # A's channel under B's tenant id, correctly signed with A's token, is unknown: RLS binds the lookup.
    as_b = {**channel, "inbound_url": channel["inbound_url"].replace(channel["inbound_url"].split("/")[3], tenant_b[0])}
    moved = h.post_sms(platform.base_url, as_b, "SM-cross-tenant", "hi")
    assert moved.status_code == 404 and h.error_code(moved) == "channel_not_found"
    # B's own channel of another kind does not take A's SMS path either.
    slack_b = h.make_channel(api_b, "slack", secret=h.SLACK_SECRET, token=h.SLACK_BOT)
    wrong_kind = httpx.post(platform.base_url + slack_b["inbound_url"].replace("/slack", "/sms"), data={"Body": "x"})
    assert wrong_kind.status_code == 404
