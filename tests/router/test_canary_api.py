"""`/v1/router/canaries` through the gateway's app (`api.app.create_app`, in this process, with the platform's
worker on a queue of its own): start, read, list, abort; what is refused (422/409); and another tenant's key
never reads, approves or aborts a tenant's canary."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from app.tools import platform_registry
from app.worker import build_worker
from core.settings import Settings
from tenancy.tenants import create_tenant

CANARIES = "/v1/router/canaries"
TRIAL = {"model": "scripted/agent", "share": 0.2, "check_every_minutes": 60}

Clients = Callable[[], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def clients(migrated: Settings) -> AsyncIterator[Clients]:
    """A new tenant's owner client per call, on one app and one worker."""
    queue = f"canary-api-{uuid.uuid4().hex[:8]}"
    settings = migrated.model_copy(update={"task_queue": queue, "model_small": "scripted/echo", "model_large": None})
    app = create_app(settings, registry=platform_registry())
    opened: list[httpx.AsyncClient] = []

    async def new_client() -> httpx.AsyncClient:
        created = await create_tenant(
            settings.database_url or "",
            name=f"Canary API {uuid.uuid4().hex[:6]}",
            plan="pro",
            pepper=settings.api_key_pepper.get_secret_value(),
        )
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            headers={"Authorization": f"Bearer {created.api_key}"},
            timeout=30.0,
        )
        opened.append(client)
        return client

    async with build_worker(settings, task_queue=queue) as deps, deps.worker, app.router.lifespan_context(app):
        yield new_client
        for client in opened:
            await client.aclose()


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def _json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_canary_starts_routes_its_share_and_aborts_audited(clients: Clients) -> None:
    owner = await clients()
    started = await owner.post(CANARIES, json=TRIAL)
    assert started.status_code == 202, started.text
    canary = started.json()
    assert canary["status"] == "running" and canary["tier"] == "small" and canary["share"] == 0.2
    assert canary["control_model"] == "scripted/echo" and canary["rule"]["min_turns"] == 200
    assert (await _json(owner, f"{CANARIES}/{canary['id']}"))["id"] == canary["id"]
    assert [c["id"] for c in (await _json(owner, CANARIES))["items"]] == [canary["id"]]

    again = await owner.post(CANARIES, json=TRIAL)
    assert again.status_code == 409 and _code(again) == "canary_running"
    approve = await owner.post(f"{CANARIES}/{canary['id']}/approve")
    assert approve.status_code == 409, approve.text  # nothing to approve while it is running

    aborted = await owner.post(f"{CANARIES}/{canary['id']}/abort", json={"reason": "not today"})
    assert aborted.status_code == 200, aborted.text
    assert aborted.json()["status"] == "rolled_back" and aborted.json()["reason"] == "not today"
    assert (await _json(owner, "/v1/router/settings"))["canary_model"] is None
    assert (await owner.post(f"{CANARIES}/{canary['id']}/abort")).status_code == 409  # ended already
    actions = {e["action"] for e in (await _json(owner, "/v1/audit"))["items"]}
    assert {"router.canary_started", "router.canary_rolled_back"} <= actions
    # Ended: a new one may start.
    second = await owner.post(CANARIES, json=TRIAL)
    assert second.status_code == 202, second.text
    assert (await owner.post(f"{CANARIES}/{second.json()['id']}/abort")).status_code == 200


INVALID = [
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
]


async def test_invalid_canaries_are_refused_with_422_and_unknown_ids_with_404(clients: Clients) -> None:
    owner = await clients()
    for body, code in INVALID:
        response = await owner.post(CANARIES, json=body)
        assert response.status_code == 422, (body, response.text)
        assert _code(response) == code, body
    assert (await _json(owner, CANARIES))["items"] == []
    assert _code(await owner.get(f"{CANARIES}/{uuid.uuid4()}")) == "canary_not_found"
    assert (await owner.get(f"{CANARIES}/not-a-uuid")).status_code == 422
    assert (await owner.post(f"{CANARIES}/{uuid.uuid4()}/approve")).status_code == 404
    assert (await owner.post(f"{CANARIES}/{uuid.uuid4()}/abort", json={"reason": ""})).status_code == 422


async def test_another_tenant_never_reaches_a_canary(clients: Clients) -> None:
    owner, stranger = await clients(), await clients()
    canary = (await owner.post(CANARIES, json=TRIAL)).json()
    try:
        for response in (
            await stranger.get(f"{CANARIES}/{canary['id']}"),
            await stranger.post(f"{CANARIES}/{canary['id']}/approve"),
            await stranger.post(f"{CANARIES}/{canary['id']}/abort"),
        ):
            assert response.status_code == 404 and _code(response) == "canary_not_found", response.text
        assert (await _json(stranger, CANARIES))["items"] == []
        assert (await _json(stranger, "/v1/router/settings"))["canary_model"] is None
        # The stranger's own canary is its own; the owner's still runs.
        own = await stranger.post(CANARIES, json=TRIAL)
        assert own.status_code == 202, own.text
        assert (await _json(owner, f"{CANARIES}/{canary['id']}"))["status"] == "running"
        await stranger.post(f"{CANARIES}/{own.json()['id']}/abort")
    finally:
        await owner.post(f"{CANARIES}/{canary['id']}/abort")


async def test_a_canary_whose_run_cannot_start_is_closed_and_answers_503(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row is committed before its run starts (the run's first step reads it); when the engine refuses the
    start, the canary is closed again, so it neither blocks the next one nor claims a share of turns."""
    owner = await clients()

    async def refused(*_args: Any, **_kwargs: Any) -> None:
        raise RPCError("the engine did not answer", RPCStatusCode.UNAVAILABLE, b"")

    with monkeypatch.context() as patched:
        patched.setattr(Client, "start_workflow", refused)
        failed = await owner.post(CANARIES, json=TRIAL)
    assert failed.status_code == 503 and _code(failed) == "engine_unavailable", failed.text
    [closed] = (await _json(owner, CANARIES))["items"]
    assert closed["status"] == "rolled_back" and "could not start" in closed["reason"], closed
    assert (await _json(owner, "/v1/router/settings"))["canary_model"] is None
    started = await owner.post(CANARIES, json=TRIAL)
    assert started.status_code == 202, started.text
    assert (await owner.post(f"{CANARIES}/{started.json()['id']}/abort")).status_code == 200
