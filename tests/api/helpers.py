"""Clients and checks shared by the tests of the /v1 surface on the running platform."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tenancy.jwt import dev_secret, issue_token
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform


@contextmanager
def client(platform: Platform, token: str | None = None, **headers: str) -> Iterator[httpx.Client]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=platform.base_url, headers={**auth, **headers}, timeout=30.0) as opened:
        yield opened


@contextmanager
def fresh_tenant(platform: Platform, name: str = "Fresh") -> Iterator[tuple[str, httpx.Client]]:
    """A tenant of the test's own (so its listings hold only what the test put there) and its owner's client."""
    tenant_id, key = create_test_tenant(platform.settings, name)
    with client(platform, key) as owner:
        yield tenant_id, owner


def platform_admin(platform: Platform) -> str:
    return issue_token(dev_secret(platform.data_dir), subject="api-tests-admin", platform_role="platform_admin")


def error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The error body of `response`, which must have `status` (and `code`) and the one error shape."""
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return dict(body["error"])


def page(response: httpx.Response) -> dict[str, Any]:
    """The listing page of `response`, which must be exactly the list envelope."""
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert set(body) == {"items", "next_cursor"} and isinstance(body["items"], list), body
    return dict(body)


def every_item(api: httpx.Client, path: str, limit: int = 200, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, following its cursors."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        found = page(api.get(path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})}))
        items += found["items"]
        cursor = found["next_cursor"]
        if cursor is None:
            return items
