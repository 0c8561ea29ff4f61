"""`/v1/api-keys` through the real gateway process: issue, list, revoke, rotate, and who may do what."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.platform import Platform
from tests.e2e.ws import ws_close_code

SECRET_FIELDS = {"key", "secret", "secret_hash", "hash"}


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"code", "message", "details"}
    if code is not None:
        assert body["code"] == code
    return body


def _as(platform: Platform, key: str) -> httpx.Client:
    return httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)


def _issue(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/api-keys", json={"name": f"k-{uuid.uuid4().hex[:6]}", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _listed(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every key of the listing, page after page."""
    keys: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = client.get("/v1/api-keys", params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        keys += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return keys


def test_issue_list_and_revoke(platform: Platform, api: httpx.Client) -> None:
    created = _issue(api, role="viewer", scopes=["conversations:read"])
    assert created["api_key"].startswith("ak_") and created["prefix"] in created["api_key"]
    assert (created["role"], created["scopes"], created["revoked_at"]) == ("viewer", ["conversations:read"], None)
    listed = _listed(api)
    mine = [k for k in listed if k["id"] == created["id"]]
    assert len(mine) == 1
    assert not SECRET_FIELDS & set(mine[0])
    assert created["api_key"] not in str(listed)

    with _as(platform, created["api_key"]) as viewer:
        assert viewer.get(f"/v1/conversations/{uuid.uuid4()}").status_code == 404  # authenticated
        assert api.delete(f"/v1/api-keys/{created['id']}").status_code == 204
        response = viewer.get(f"/v1/conversations/{uuid.uuid4()}")
        _error(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")
    # Revoking again changes nothing; the key drops out of the default listing but not the full one.
    assert api.delete(f"/v1/api-keys/{created['id']}").status_code == 204
    assert created["id"] not in {k["id"] for k in _listed(api)}
    full = {k["id"]: k for k in _listed(api, include_inactive=True)}
    assert full[created["id"]]["revoked_at"] is not None


def test_rotation_keeps_the_old_key_for_the_overlap(platform: Platform, api: httpx.Client) -> None:
    old = _issue(api, role="developer")
    response = api.post(f"/v1/api-keys/{old['id']}/rotate", json={"overlap_seconds": 2})
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["rotated_from"] == old["id"] and new["role"] == "developer" and new["api_key"] != old["api_key"]
    probe = f"/v1/conversations/{uuid.uuid4()}"
    with _as(platform, old["api_key"]) as old_client, _as(platform, new["api_key"]) as new_client:
        assert old_client.get(probe).status_code == 404
        assert new_client.get(probe).status_code == 404
        _error(api.post(f"/v1/api-keys/{old['id']}/rotate", json={"overlap_seconds": 2}), 409, "api_key_not_active")
        time.sleep(2.5)
        _error(old_client.get(probe), 401)
        assert new_client.get(probe).status_code == 404
    _error(api.post(f"/v1/api-keys/{old['id']}/rotate", json={"overlap_seconds": 0}), 409)


def test_an_expired_key_is_refused(platform: Platform, api: httpx.Client) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    created = _issue(api, role="viewer", expires_at=soon)
    with _as(platform, created["api_key"]) as client:
        assert client.get(f"/v1/conversations/{uuid.uuid4()}").status_code == 404
        time.sleep(2.5)
        _error(client.get(f"/v1/conversations/{uuid.uuid4()}"), 401, "unauthenticated")


def test_viewer_reads_but_does_not_write(platform: Platform, api: httpx.Client) -> None:
    conversation = api.post("/v1/conversations", json={}).json()["id"]
    viewer = _issue(api, role="viewer")
    with _as(platform, viewer["api_key"]) as client:
        assert client.get(f"/v1/conversations/{conversation}").status_code == 200
        body = _error(client.post("/v1/conversations", json={}), 403, "forbidden")
        assert body["details"] == {"permission": "conversations:write"}
        _error(client.post(f"/v1/conversations/{conversation}/messages", json={"content": "hi"}), 403, "forbidden")
        _error(client.get("/v1/api-keys"), 403, "forbidden")
        _error(client.post("/v1/api-keys", json={"name": "x"}), 403, "forbidden")


def test_scopes_narrow_an_owner_key(platform: Platform, api: httpx.Client) -> None:
    conversation = api.post("/v1/conversations", json={}).json()["id"]
    narrowed = _issue(api, role="owner", scopes=["conversations:read"])
    with _as(platform, narrowed["api_key"]) as client:
        assert client.get(f"/v1/conversations/{conversation}").status_code == 200
        _error(client.post("/v1/conversations", json={}), 403, "forbidden")
        _error(client.get("/v1/api-keys"), 403, "forbidden")
    # Streams need read permission too, over SSE and WebSocket alike.
    write_only = _issue(api, role="developer", scopes=["conversations:write"])
    with _as(platform, write_only["api_key"]) as client:
        _error(client.get(f"/v1/conversations/{conversation}/events"), 403, "forbidden")
    assert ws_close_code(platform.base_url, conversation, f"Bearer {write_only['api_key']}") == (4403, "forbidden")


def test_nobody_issues_or_revokes_beyond_their_own_role(platform: Platform, api: httpx.Client) -> None:
    admin = _issue(api, role="admin")
    owner = _issue(api, role="owner")
    with _as(platform, admin["api_key"]) as client:
        _error(client.post("/v1/api-keys", json={"name": "up", "role": "owner"}), 403, "forbidden")
        _error(client.delete(f"/v1/api-keys/{owner['id']}"), 403, "forbidden")
        _error(client.post(f"/v1/api-keys/{owner['id']}/rotate", json={"overlap_seconds": 0}), 403, "forbidden")
        assert client.post("/v1/api-keys", json={"name": "ok", "role": "admin"}).status_code == 201
        # A key issued without a role gets the least one that can work with conversations.
        assert client.post("/v1/api-keys", json={"name": "dflt"}).json()["role"] == "developer"
    assert api.delete(f"/v1/api-keys/{owner['id']}").status_code == 204


def test_another_tenants_key_ids_are_not_found(
    platform: Platform, api: httpx.Client, api_b: httpx.Client, tenant_b: tuple[str, str]
) -> None:
    from tenancy.jwt import dev_secret, issue_token

    victim = _issue(api, role="viewer")
    token_b = issue_token(dev_secret(platform.data_dir), subject="bob", tenant_id=tenant_b[0], roles=("owner",))
    with _as(platform, token_b) as jwt_b:
        for client in (api_b, jwt_b):
            _error(client.delete(f"/v1/api-keys/{victim['id']}"), 404, "api_key_not_found")
            _error(client.post(f"/v1/api-keys/{victim['id']}/rotate", json={"overlap_seconds": 0}), 404)
            assert victim["id"] not in {k["id"] for k in _listed(client)}
    with _as(platform, victim["api_key"]) as still_working:
        assert still_working.get(f"/v1/conversations/{uuid.uuid4()}").status_code == 404
    _error(api.delete(f"/v1/api-keys/{uuid.uuid4()}"), 404, "api_key_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "nul\x00"},
        {"name": "x" * 101},
        {"name": "k", "role": "root"},
        {"name": "k", "role": "platform_admin"},
        {"name": "k", "scopes": ["everything"]},
        {"name": "k", "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "k", "expires_at": "2999-01-01T00:00:00"},  # no timezone
        {"name": "k", "extra": 1},
    ],
)
def test_invalid_bodies_are_422(api: httpx.Client, body: dict[str, Any]) -> None:
    _error(api.post("/v1/api-keys", json=body), 422, "invalid_request")


def test_invalid_rotations_are_422(api: httpx.Client) -> None:
    key = _issue(api, role="viewer")
    for body in ({}, {"overlap_seconds": -1}, {"overlap_seconds": 10**9}, {"overlap_seconds": "soon"}):
        _error(api.post(f"/v1/api-keys/{key['id']}/rotate", json=body), 422)
    _error(api.delete("/v1/api-keys/not-a-uuid"), 422)


def test_dev_tokens_on_the_gateway(platform: Platform, api: httpx.Client, tenant_a: tuple[str, str]) -> None:
    from tenancy.jwt import dev_secret, issue_token

    secret = dev_secret(platform.data_dir)
    conversation = api.post("/v1/conversations", json={}).json()["id"]
    viewer = issue_token(secret, subject="vera", tenant_id=tenant_a[0], roles=("viewer",))
    with _as(platform, viewer) as client:
        assert client.get(f"/v1/conversations/{conversation}").status_code == 200
        _error(client.post("/v1/conversations", json={}), 403, "forbidden")
    # Platform credentials are not a tenant's: a tenant route refuses them rather than guessing one.
    platform_only = issue_token(secret, subject="root", platform_role="platform_admin")
    with _as(platform, platform_only) as client:
        _error(client.get(f"/v1/conversations/{conversation}"), 403, "forbidden")
    for token in (
        issue_token(secret, subject="x", tenant_id=str(uuid.uuid4()), roles=("owner",)),  # no such tenant
        issue_token("not-the-dev-secret-" + "n" * 32, subject="x", tenant_id=tenant_a[0], roles=("owner",)),
        issue_token(secret, subject="x", tenant_id=tenant_a[0], roles=("owner",), ttl_seconds=-600),
    ):
        with _as(platform, token) as client:
            _error(client.get(f"/v1/conversations/{conversation}"), 401, "unauthenticated")
