"""Starting a re-embed through the gateway's app (in this process, with the platform's worker on a queue of its
own): the row is committed before its workflow starts, because the workflow's first step reads it; a start the
engine refuses answers 503 and leaves the row closed as failed, so it neither blocks the next re-embed nor stays
`running` with no workflow behind it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from app.tools import platform_registry
from app.worker import build_worker
from core.settings import Settings
from knowledge.embeddings import OFFLINE_MODEL
from tenancy.tenants import create_tenant

COLLECTIONS = "/v1/knowledge/collections"
FROM_MODEL = "offline/feature-hash-256"


@pytest.fixture
async def owner(migrated: Settings) -> AsyncIterator[httpx.AsyncClient]:
    queue = f"reembed-start-{uuid.uuid4().hex[:8]}"
    settings = migrated.model_copy(update={"task_queue": queue})
    app = create_app(settings, registry=platform_registry())
    created = await create_tenant(
        settings.database_url or "",
        name=f"Reembed start {uuid.uuid4().hex[:6]}",
        plan="pro",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    async with (
        build_worker(settings, task_queue=queue) as deps,
        deps.worker,
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gateway",
            headers={"Authorization": f"Bearer {created.api_key}"},
            timeout=30.0,
        ) as client,
    ):
        yield client


async def _settled(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(400):
        body = (await client.get(url)).json()
        if body["status"] != "running":
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"{url} did not settle: {body}")


async def test_a_refused_start_closes_the_reembed_and_the_next_one_runs(
    owner: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await owner.post(COLLECTIONS, json={"name": f"faq {uuid.uuid4().hex[:6]}", "embedding_model": FROM_MODEL})
    assert made.status_code == 201, made.text
    url = f"{COLLECTIONS}/{made.json()['id']}/reembed"

    async def refused(*_args: Any, **_kwargs: Any) -> None:
        raise RPCError("the engine did not answer", RPCStatusCode.UNAVAILABLE, b"")

    with monkeypatch.context() as patched:
        patched.setattr(Client, "start_workflow", refused)
        failed = await owner.post(url, json={"embedding_model": OFFLINE_MODEL})
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "engine_unavailable", failed.text
    closed = (await owner.get(url)).json()
    assert closed["status"] == "failed" and "could not start" in closed["reason"], closed

    started = await owner.post(url, json={"embedding_model": OFFLINE_MODEL})
    assert started.status_code == 202, started.text
    # Its workflow found the committed row: the run ends completed, not gone with the row left `running`.
    assert (await _settled(owner, url))["status"] == "completed"
