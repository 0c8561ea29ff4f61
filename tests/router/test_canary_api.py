"""`/v1/router/canaries` through the gateway: start, read, list, abort; what is refused (422/409); and another
tenant's key never reads, approves or aborts a tenant's canary."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform

CANARIES = "/v1/router/canaries"
TRIAL = {"model": "scripted/agent", "share": 0.2, "check_every_minutes": 60}


def _client(platform: Platform) -> tuple[str, httpx.Client]:
    tenant_id, key = create_test_tenant(platform.settings, "Canary API")
    return tenant_id, httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)


@pytest.fixture
def owner(platform: Platform) -> Iterator[httpx.Client]:
    with _client(platform)[1] as client:
        yield client


@pytest.fixture
def stranger(platform: Platform) -> Iterator[httpx.Client]:
    with _client(platform)[1] as client:
        yield client


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_a_canary_starts_routes_its_share_and_aborts_audited(owner: httpx.Client) -> None:
    started = owner.post(CANARIES, json=TRIAL)
    assert started.status_code == 202, started.text
    canary = started.json()
    assert canary["status"] == "running" and canary["tier"] == "small" and canary["share"] == 0.2
    assert canary["control_model"] == "scripted/echo" and canary["rule"]["min_turns"] == 200
    settings = owner.get("/v1/router/settings").json()
    assert settings["canary_model"] == "scripted/agent" or settings["canary_model"] is None  # begun by the worker
    assert owner.get(f"{CANARIES}/{canary['id']}").json()["id"] == canary["id"]
    assert [c["id"] for c in owner.get(CANARIES).json()["items"]] == [canary["id"]]

    again = owner.post(CANARIES, json=TRIAL)
    assert again.status_code == 409 and _code(again) == "canary_running"
    approve = owner.post(f"{CANARIES}/{canary['id']}/approve")
    assert approve.status_code == 409, approve.text  # nothing to approve while it is running

    aborted = owner.post(f"{CANARIES}/{canary['id']}/abort", json={"reason": "not today"})
    assert aborted.status_code == 200, aborted.text
    assert aborted.json()["status"] == "rolled_back" and aborted.json()["reason"] == "not today"
    assert owner.get("/v1/router/settings").json()["canary_model"] is None
    assert owner.post(f"{CANARIES}/{canary['id']}/abort").status_code == 409  # ended already
    actions = {e["action"] for e in owner.get("/v1/audit").json()["items"]}
    assert {"router.canary_started", "router.canary_rolled_back"} <= actions
    # Ended: a new one may start.
    second = owner.post(CANARIES, json=TRIAL)
    assert second.status_code == 202, second.text
    assert owner.post(f"{CANARIES}/{second.json()['id']}/abort").status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "gpt-4o", "share": 0.1}, "model_not_in_region"),
        ({"model": "scripted/agent", "share": 0.1, "control_model": "gpt-4o"}, "model_not_in_region"),
        ({"model": "scripted/echo", "share": 0.1}, "invalid_request"),  # already the tier's model
        ({"model": "scripted/agent", "share": 0}, "invalid_request"),
        ({"model": "scripted/agent", "share": 1}, "invalid_request"),
        ({"model": "scripted/agent", "share": "half"}, "invalid_request"),
        ({"model": "scripted/agent", "share": 0.1, "check_every_minutes": 0}, "invalid_request"),
        ({"model": "scripted/agent", "share": 0.1, "rule": {"min_turns": 5}}, "invalid_request"),
        ({"model": "scripted/agent", "share": 0.1, "rule": {"alpha": 0.9}}, "invalid_request"),
        ({"model": "scripted/agent", "share": 0.1, "surprise": True}, "invalid_request"),
        ({"model": "bad model name", "share": 0.1}, "invalid_request"),
        ({"share": 0.1}, "invalid_request"),
    ],
)
def test_invalid_canaries_are_refused_with_422(owner: httpx.Client, body: dict[str, object], code: str) -> None:
    response = owner.post(CANARIES, json=body)
    assert response.status_code == 422, response.text
    assert _code(response) == code
    assert owner.get(CANARIES).json()["items"] == []


def test_unknown_and_malformed_ids(owner: httpx.Client) -> None:
    assert _code(owner.get(f"{CANARIES}/{uuid.uuid4()}")) == "canary_not_found"
    assert owner.get(f"{CANARIES}/not-a-uuid").status_code == 422
    assert owner.post(f"{CANARIES}/{uuid.uuid4()}/approve").status_code == 404
    assert owner.post(f"{CANARIES}/{uuid.uuid4()}/abort", json={"reason": ""}).status_code == 422


def test_another_tenant_never_reaches_a_canary(owner: httpx.Client, stranger: httpx.Client) -> None:
    canary = owner.post(CANARIES, json=TRIAL).json()
    try:
        for response in (
            stranger.get(f"{CANARIES}/{canary['id']}"),
            stranger.post(f"{CANARIES}/{canary['id']}/approve"),
            stranger.post(f"{CANARIES}/{canary['id']}/abort"),
        ):
            assert response.status_code == 404 and _code(response) == "canary_not_found", response.text
        assert stranger.get(CANARIES).json()["items"] == []
        assert stranger.get("/v1/router/settings").json()["canary_model"] is None
        # The stranger's own canary is its own; the owner's still runs.
        assert stranger.post(CANARIES, json=TRIAL).status_code == 202
        assert owner.get(f"{CANARIES}/{canary['id']}").json()["status"] == "running"
    finally:
        owner.post(f"{CANARIES}/{canary['id']}/abort")
