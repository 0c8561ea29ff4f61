"""`/v1/connectors` on the running gateway: who may read and change what, strict validation, the secret never
shown, and each tenant alone with its own configuration."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tenancy.tenants import create_tenant
from tests.e2e.platform import Platform

SECRET = "s3cret-signing-key-" + uuid.uuid4().hex


def _client(platform: Platform, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=platform.base_url, headers=headers, timeout=30.0)


@pytest.fixture
def owner(platform: Platform) -> Iterator[httpx.Client]:
    """A tenant of its own, so configuring connectors here never changes the shared tenants' tools."""
    settings = platform.settings
    created = asyncio.run(
        create_tenant(
            settings.database_url or "",
            name=f"Connectors {uuid.uuid4().hex[:8]}",
            plan="pro",
            pepper=settings.api_key_pepper.get_secret_value(),
        )
    )
    with _client(platform, created.api_key) as client:
        yield client


def _assert_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]  # type: ignore[no-any-return]


def test_every_route_needs_credentials(platform: Platform) -> None:
    with _client(platform, None) as anonymous:
        _assert_error(anonymous.get("/v1/connectors"), 401)
        _assert_error(anonymous.put("/v1/connectors/payments", json={"kind": "sandbox"}), 401)
        _assert_error(anonymous.delete("/v1/connectors/payments"), 401)
    with _client(platform, "ak_forged_key") as forged:
        _assert_error(forged.get("/v1/connectors"), 401)


def test_every_system_starts_as_the_sandbox(owner: httpx.Client) -> None:
    response = owner.get("/v1/connectors")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["system"], i["kind"], i["base_url"], i["has_secret"]) for i in items] == [
        ("payments", "sandbox", None, False),
        ("shipping", "sandbox", None, False),
        ("crm", "sandbox", None, False),
    ]


def test_an_http_connector_is_stored_and_its_secret_never_shown(owner: httpx.Client) -> None:
    response = owner.put(
        "/v1/connectors/payments",
        json={"kind": "http", "base_url": "http://127.0.0.1:9/pay/", "secret": SECRET, "timeout_seconds": 4},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["base_url"], body["has_secret"], body["timeout_seconds"]) == (
        "http",
        "http://127.0.0.1:9/pay",
        True,
        4.0,
    )
    listed = owner.get("/v1/connectors")
    assert SECRET not in response.text and SECRET not in listed.text
    payments = next(i for i in listed.json()["items"] if i["system"] == "payments")
    assert payments["kind"] == "http" and payments["has_secret"] is True
    # A later change may keep the stored secret.
    kept = owner.put("/v1/connectors/payments", json={"kind": "http", "base_url": "http://localhost:9/v2"})
    assert kept.status_code == 200 and kept.json()["has_secret"] is True
    audit = owner.get("/v1/audit", params={"action": "connector.configured"})
    assert audit.status_code == 200 and len(audit.json()["items"]) == 2 and SECRET not in audit.text
    # Deleting goes back to the sandbox and forgets the secret.
    assert owner.delete("/v1/connectors/payments").status_code == 204
    back = next(i for i in owner.get("/v1/connectors").json()["items"] if i["system"] == "payments")
    assert (back["kind"], back["base_url"], back["has_secret"]) == ("sandbox", None, False)
    assert owner.delete("/v1/connectors/payments").status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"kind": "ftp"},
        {"kind": "http"},
        {"kind": "http", "base_url": "http://127.0.0.1:9"},
        {"kind": "http", "base_url": "ftp://files.example.com", "secret": SECRET},
        {"kind": "http", "base_url": "https://user:pw@pay.example.com", "secret": SECRET},
        {"kind": "http", "base_url": "http://169.254.169.254/latest", "secret": SECRET},
        {"kind": "http", "base_url": "http://[fe80::1]/", "secret": SECRET},
        {"kind": "http", "base_url": "http://0.0.0.0/", "secret": SECRET},
        {"kind": "http", "base_url": "https://pay.example.com/?x=1", "secret": SECRET},
        {"kind": "http", "base_url": "https://pay.example.com/#frag", "secret": SECRET},
        {"kind": "http", "base_url": "https://pay example.com", "secret": SECRET},
        {"kind": "http", "base_url": "https://pay.example.com:99999", "secret": SECRET},
        {"kind": "http", "base_url": "https://" + "a" * 600 + ".com", "secret": SECRET},
        {"kind": "http", "base_url": "https://pay.example.com", "secret": "short"},
        {"kind": "http", "base_url": "https://pay.example.com", "secret": "has a space in it!"},
        {"kind": "http", "base_url": "https://pay.example.com", "secret": "x" * 257},
        {"kind": "http", "base_url": "https://pay.example.com", "secret": SECRET, "timeout_seconds": 0},
        {"kind": "http", "base_url": "https://pay.example.com", "secret": SECRET, "timeout_seconds": 61},
        {"kind": "http", "base_url": "https://pay.example.com", "secret": SECRET, "owner": "me"},
        {"kind": "sandbox", "secret": SECRET},
        {"kind": "sandbox", "base_url": "https://pay.example.com"},
    ],
)
def test_invalid_configurations_are_422_and_change_nothing(owner: httpx.Client, body: dict[str, object]) -> None:
    response = owner.put("/v1/connectors/crm", json=body)
    _assert_error(response, 422)
    assert SECRET not in response.text
    crm = next(i for i in owner.get("/v1/connectors").json()["items"] if i["system"] == "crm")
    assert crm["kind"] == "sandbox"


def test_unknown_systems_are_refused(owner: httpx.Client) -> None:
    for system in ("email", "PAYMENTS", "payments%00", str(uuid.uuid4())):
        _assert_error(owner.put(f"/v1/connectors/{system}", json={"kind": "sandbox"}), 422)
        _assert_error(owner.delete(f"/v1/connectors/{system}"), 422)


def test_changing_needs_agents_manage_and_reading_tenant_read(platform: Platform, owner: httpx.Client) -> None:
    created = owner.post("/v1/api-keys", json={"name": "viewer", "role": "viewer"})
    assert created.status_code == 201, created.text
    body = created.json()
    with _client(platform, str(body["api_key"])) as viewer:
        assert viewer.get("/v1/connectors").status_code == 200
        error = _assert_error(viewer.put("/v1/connectors/crm", json={"kind": "sandbox"}), 403)
        assert error["details"] == {"permission": "agents:manage"}
        _assert_error(viewer.delete("/v1/connectors/crm"), 403)


def test_another_tenant_neither_sees_nor_changes_the_configuration(owner: httpx.Client, api_b: httpx.Client) -> None:
    url = f"http://127.0.0.1:9/{uuid.uuid4().hex}"
    assert (
        owner.put("/v1/connectors/shipping", json={"kind": "http", "base_url": url, "secret": SECRET}).status_code
        == 200
    )
    theirs = api_b.get("/v1/connectors")
    assert theirs.status_code == 200 and url not in theirs.text and SECRET not in theirs.text
    assert api_b.delete("/v1/connectors/shipping").status_code == 204
    mine = next(i for i in owner.get("/v1/connectors").json()["items"] if i["system"] == "shipping")
    assert (mine["kind"], mine["base_url"]) == ("http", url)
