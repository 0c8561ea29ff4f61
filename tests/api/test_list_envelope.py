"""Every /v1 listing speaks one dialect: `{"items", "next_cursor"}`, a bounded `limit`, an opaque signed `cursor`.

On the running platform: the schema declares no bare arrays and the same parameters on every listing; each
listing refuses out-of-range limits (422) and cursors it did not hand out (400 `invalid_cursor`), including a
cursor of another tenant or of other filters; and following cursors visits every item once.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import client, error, every_item, fresh_tenant, page, platform_admin
from tests.e2e.platform import Platform

# Every tenant listing, `{cid}` a conversation of the tenant, `{coll}` one of its knowledge collections.
LISTINGS = (
    "/v1/api-keys",
    "/v1/agents",
    "/v1/agents/support/versions",
    "/v1/tools",
    "/v1/conversations",
    "/v1/conversations/{cid}/approvals",
    "/v1/audit",
    "/v1/tenant/members",
    "/v1/tenant/invitations",
    "/v1/connectors",
    "/v1/customers",
    "/v1/products",
    "/v1/knowledge/collections",
    "/v1/knowledge/collections/{coll}/documents",
    "/v1/webhooks/endpoints",
    "/v1/webhooks/deliveries",
    "/v1/drift/reports",
    "/v1/evals/runs",
    "/v1/invoices",
    "/v1/channels",
    "/v1/router/canaries",
)


@pytest.fixture(scope="module")
def schema(platform: Platform) -> dict[str, Any]:
    return dict(httpx.get(f"{platform.base_url}/openapi.json", timeout=10).json())


def _response_schema(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    found = content.get("schema", {})
    while "$ref" in found:
        found = schema["components"]["schemas"][found["$ref"].rsplit("/", 1)[-1]]
    return dict(found)


def test_the_schema_has_no_bare_lists_and_every_listing_pages_alike(schema: dict[str, Any]) -> None:
    listings = []
    for path, item in schema["paths"].items():
        if "get" not in item or not path.startswith("/v1/"):
            continue
        response = _response_schema(schema, item["get"])
        assert response.get("type") != "array", f"GET {path} answers a bare array"
        if set(response.get("properties", {})) == {"items", "next_cursor"}:
            listings.append(path)
            params = {p["name"]: p for p in item["get"].get("parameters", [])}
            assert {"limit", "cursor"} <= set(params), path
            assert (params["limit"]["schema"]["minimum"], params["limit"]["schema"]["maximum"]) == (1, 200), path
    templated = {
        p.replace("{cid}", "{conversation_id}").replace("{coll}", "{collection_id}").replace("/support/", "/{name}/")
        for p in LISTINGS
    }
    assert sorted(listings) == sorted({*templated, "/v1/admin/tenants", "/v1/ops/dr/reports"})


def test_every_listing_answers_the_envelope_and_refuses_bad_pages(platform: Platform) -> None:
    with fresh_tenant(platform, "Envelope") as (_tenant_id, owner):
        cid = owner.post("/v1/conversations", json={}).json()["id"]
        coll = owner.post("/v1/knowledge/collections", json={"name": "Envelope"}).json()["id"]
        for path in (p.replace("{cid}", cid).replace("{coll}", coll) for p in LISTINGS):
            page(owner.get(path))
            page(owner.get(path, params={"limit": 1}))
            for limit in (0, -1, 201, "many"):
                error(owner.get(path, params={"limit": limit}), 422, "invalid_request")
            for cursor in ("garbage", "a.b", "", "x" * 2000, "' OR '1'='1"):
                error(owner.get(path, params={"cursor": cursor}), 400, "invalid_cursor")
    with client(platform, platform_admin(platform)) as admin:
        page(admin.get("/v1/admin/tenants", params={"limit": 1}))
        error(admin.get("/v1/admin/tenants", params={"cursor": "garbage"}), 400, "invalid_cursor")
        error(admin.get("/v1/admin/tenants", params={"limit": 500}), 422, "invalid_request")


def test_following_cursors_visits_every_item_once(platform: Platform) -> None:
    with fresh_tenant(platform, "Pages") as (_tenant_id, owner):
        for i in range(4):
            assert owner.post("/v1/api-keys", json={"name": f"k{i}"}).status_code == 201
        one_by_one = every_item(owner, "/v1/api-keys", limit=1)
        assert [k["id"] for k in one_by_one] == [k["id"] for k in every_item(owner, "/v1/api-keys")]
        assert len({k["id"] for k in one_by_one}) == len(one_by_one) == 5  # the owner's first key and four
        tools = every_item(owner, "/v1/tools", limit=3)
        assert [t["name"] for t in tools] == sorted({t["name"] for t in tools})
        audit = every_item(owner, "/v1/audit", limit=2)
        assert [e["id"] for e in audit] == sorted((e["id"] for e in audit), reverse=True)


def test_a_cursor_works_only_for_its_tenant_and_filters(platform: Platform, api: httpx.Client) -> None:
    first = page(api.get("/v1/agents", params={"limit": 1}))
    assert first["next_cursor"] is not None
    assert page(api.get("/v1/agents", params={"limit": 1, "cursor": first["next_cursor"]}))["items"]
    with fresh_tenant(platform, "Cursor thief") as (_tenant_id, thief):
        error(thief.get("/v1/agents", params={"cursor": first["next_cursor"]}), 400, "invalid_cursor")
        # Nor does it carry over to another listing of the tenant that made it.
    error(api.get("/v1/tools", params={"cursor": first["next_cursor"]}), 400, "invalid_cursor")
    keys = page(api.get("/v1/api-keys", params={"limit": 1}))
    if keys["next_cursor"] is not None:
        other_filters = {"limit": 1, "cursor": keys["next_cursor"], "include_inactive": True}
        error(api.get("/v1/api-keys", params=other_filters), 400, "invalid_cursor")
