"""The gateway's HTTP manners on the running platform: media types, trailing slashes, a suspended tenant's key,
and what `/v1/tools` shows of each tool's arguments."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tenancy.jwt import dev_secret, issue_token
from tests.api.helpers import client, error, every_item, fresh_tenant, platform_admin
from tests.e2e.platform import Platform


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/csv", None])
def test_a_json_route_refuses_other_media_types_with_415(api: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.post("/v1/conversations", content=b'{"agent": "support"}', headers=headers)
    details = error(response, 415, "unsupported_media_type")["details"]
    assert details == {"accepted": ["application/json"], "received": content_type}
    assert "application/json" in response.json()["error"]["message"]


def test_json_under_any_json_type_and_bodyless_requests_pass(api: httpx.Client) -> None:
    for content_type in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json"):
        response = api.post("/v1/conversations", content=b"{}", headers={"Content-Type": content_type})
        assert response.status_code == 201, response.text
    key = api.post("/v1/api-keys", json={"name": "bodyless"}).json()
    assert api.delete(f"/v1/api-keys/{key['id']}").status_code == 204


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/agents/"), ("POST", "/v1/conversations/"), ("GET", "/v1/tools/"), ("GET", "/v1/customers/")],
)
def test_a_trailing_slash_is_a_json_404_not_a_redirect(api: httpx.Client, method: str, path: str) -> None:
    response = api.request(method, path, json={} if method == "POST" else None)
    body = error(response, 404, "not_found")
    assert body["details"] == {"path": path.rstrip("/")}
    assert "location" not in response.headers


def test_unknown_routes_and_methods_answer_in_the_error_shape(api: httpx.Client) -> None:
    error(api.get("/v1/nothing-here"), 404, "not_found")
    error(api.delete("/v1/tools"), 405, "method_not_allowed")


def test_a_suspended_tenants_credentials_are_told_so(platform: Platform) -> None:
    with fresh_tenant(platform, "Suspended") as (tenant_id, owner), client(platform, platform_admin(platform)) as admin:
        member = issue_token(dev_secret(platform.data_dir), subject="sam", tenant_id=tenant_id, roles=("viewer",))
        assert admin.post(f"/v1/admin/tenants/{tenant_id}/suspend", json={"reason": "tests"}).status_code == 200
        try:
            with client(platform, member) as signed:
                for credentials in (owner, signed):
                    body = error(credentials.get("/v1/tenant"), 403, "tenant_suspended")
                    assert "suspended" in body["message"]
            # A wrong key for the same tenant is still just wrong, and learns nothing of the tenant's state.
            with client(platform, owner.headers["Authorization"].removeprefix("Bearer ")[:-4] + "AAAA") as wrong:
                error(wrong.get("/v1/tenant"), 401, "unauthenticated")
        finally:
            assert admin.post(f"/v1/admin/tenants/{tenant_id}/resume").status_code == 200
        assert owner.get("/v1/tenant").status_code == 200


def test_the_tool_catalogue_shows_each_tools_argument_schema(api: httpx.Client) -> None:
    tools = {t["name"]: t for t in every_item(api, "/v1/tools")}
    lookup = tools["orders.lookup"]["input_schema"]
    assert lookup["type"] == "object" and "order_id" in lookup["properties"]
    assert "order_id" in lookup.get("required", [])
    assert tools["customers.lookup"]["input_schema"]["type"] == "object"
    assert all(t["input_schema"].get("type") == "object" for t in tools.values())


def test_an_unknown_uuid_is_a_404_and_a_bad_one_422(api: httpx.Client) -> None:
    error(api.get(f"/v1/conversations/{uuid.uuid4()}"), 404, "conversation_not_found")
    error(api.get("/v1/conversations/not-a-uuid"), 422, "invalid_request")
