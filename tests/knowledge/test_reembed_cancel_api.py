"""`POST /v1/knowledge/collections/{id}/reembed/cancel` on the running platform: a running re-embed is cancelled
through Temporal (the run ends Canceled, not terminated), its partial vectors are purged, the collection keeps
serving its old model throughout, `reembed.cancelled` is announced once and the cancel is audited; asking again
is the same 202 while it winds down and 409 after; nothing to cancel is 404 or 409; another tenant's key or
token gets 404 and changes nothing."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from temporalio.client import WorkflowExecutionStatus

from api.routes.knowledge_reembed import reembed_workflow_id
from core.settings import Settings
from db.codec import connect
from knowledge.embeddings import HASHING_MODEL, OFFLINE_MODEL
from tenancy.jwt import dev_secret, issue_token
from tests.e2e.agent_world import rows
from tests.e2e.platform import Platform
from tests.knowledge import documents
from tests.knowledge.reembed_client import reembed_events, wait_status

SECTIONS = 300  # MiniLM takes several seconds for them: the cancel reaches a running re-embed


def _collection(api: httpx.Client, sections: int) -> str:
    created = api.post(
        "/v1/knowledge/collections", json={"name": f"C {uuid.uuid4().hex[:6]}", "embedding_model": HASHING_MODEL}
    )
    assert created.status_code == 201, created.text
    cid = str(created.json()["id"])
    # A made-up word per section: the hashing model's exact match, with the full-text half of a hybrid search.
    content = documents.markdown(
        [(f"Rule {i}", f"Parcels marked quillon{i:03d} ship on day {i}.") for i in range(sections)]
    )
    doc = api.post(f"/v1/knowledge/collections/{cid}/documents", files={"file": ("r.md", content, "text/markdown")})
    assert doc.status_code == 202, doc.text
    wait_status(api, f"/v1/knowledge/collections/{cid}/documents/{doc.json()['id']}", {"ready"})
    return cid


def _workflow_status(settings: Settings, workflow_id: str) -> WorkflowExecutionStatus | None:
    async def describe() -> WorkflowExecutionStatus | None:
        client = await connect(settings)
        return (await client.get_workflow_handle(workflow_id).describe()).status

    return asyncio.run(describe())


def test_a_running_reembed_is_cancelled_and_the_old_model_keeps_serving(
    platform: Platform, api_module: httpx.Client, tenant_a: tuple[str, str], tenant_b: tuple[str, str],
    api_b: httpx.Client,
) -> None:  # fmt: skip
    api = api_module
    cid = _collection(api, SECTIONS)
    url = f"/v1/knowledge/collections/{cid}/reembed"
    query = {"query": "quillon007", "collection_ids": [cid]}
    assert api.post("/v1/knowledge/search", json=query).json()["items"][0]["heading"] == "Rule 7"
    started = api.post(url, json={"embedding_model": OFFLINE_MODEL})
    assert started.status_code == 202, started.text

    # Another tenant's key and token: not found, and nothing recorded.
    token = issue_token(dev_secret(platform.data_dir), subject="mallory", tenant_id=tenant_b[0], roles=("owner",))
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as jwt_b:
        for intruder in (api_b, jwt_b):
            refused = intruder.post(f"{url}/cancel")
            assert refused.status_code == 404 and refused.json()["error"]["code"] == "collection_not_found"
    assert api.get(url).json()["cancel_requested_at"] is None

    cancelled = api.post(f"{url}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    body = cancelled.json()
    assert body["id"] == started.json()["id"] and body["status"] == "running" and body["cancel_requested_at"]
    # Asked again while it winds down: the same answer.
    again = api.post(f"{url}/cancel")
    assert again.status_code in (202, 409), again.text
    # Searches answer from the old model meanwhile.
    during = api.post("/v1/knowledge/search", json=query)
    assert during.status_code == 200 and during.json()["items"][0]["heading"] == "Rule 7"

    done = wait_status(api, url, {"cancelled", "completed", "failed"})
    assert done["status"] == "cancelled" and done["switched_at"] is None and done["finished_at"], done
    # Marked first (no late write of the run is accepted after that), purged next: the run ends when it is done,
    # cancelled through Temporal, not terminated.
    workflow_id = reembed_workflow_id(tenant_a[0], cid)
    deadline = time.monotonic() + 120
    while (status := _workflow_status(platform.settings, workflow_id)) == WorkflowExecutionStatus.RUNNING:
        assert time.monotonic() < deadline, "the cancelled run did not end"
        time.sleep(0.3)
    assert status == WorkflowExecutionStatus.CANCELED
    collection = api.get(f"/v1/knowledge/collections/{cid}").json()
    assert collection["embedding_model"] == HASHING_MODEL
    counts = rows(
        platform.settings, tenant_a[0],
        "SELECT count(*) AS chunks, count(embedding) AS slot0, count(embedding_alt) AS slot1 FROM knowledge_chunks"
        " WHERE collection_id = :c",
        c=cid,
    )[0]  # fmt: skip
    assert counts == {"chunks": SECTIONS, "slot0": SECTIONS, "slot1": 0}
    after = api.post("/v1/knowledge/search", json=query).json()["items"]
    assert after[0]["heading"] == "Rule 7"
    events = reembed_events(platform.settings, tenant_a[0], body["id"])
    assert events.count("reembed.cancelled") == 1 and "reembed.completed" not in events, events
    audited = rows(
        platform.settings, tenant_a[0],
        "SELECT action FROM audit.events WHERE target = :c AND action = 'knowledge.reembed_cancelled'", c=cid,
    )  # fmt: skip
    assert len(audited) == 1
    late = api.post(f"{url}/cancel")
    assert late.status_code == 409 and late.json()["error"]["code"] == "reembed_not_running"


def test_nothing_to_cancel_is_refused_clearly(api_module: httpx.Client) -> None:
    api = api_module
    cid = _collection(api, 1)
    never = api.post(f"/v1/knowledge/collections/{cid}/reembed/cancel")
    assert never.status_code == 404 and never.json()["error"]["code"] == "reembed_not_found"
    assert (
        api.post(f"/v1/knowledge/collections/{cid}/reembed", json={"embedding_model": OFFLINE_MODEL}).status_code == 202
    )
    wait_status(api, f"/v1/knowledge/collections/{cid}/reembed", {"completed"})
    finished = api.post(f"/v1/knowledge/collections/{cid}/reembed/cancel")
    assert finished.status_code == 409 and finished.json()["error"]["code"] == "reembed_not_running"
    assert finished.json()["error"]["details"]["status"] == "completed"
    unknown = api.post(f"/v1/knowledge/collections/{uuid.uuid4()}/reembed/cancel")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "collection_not_found"
    malformed = api.post("/v1/knowledge/collections/not-a-uuid/reembed/cancel")
    assert malformed.status_code == 422 and set(malformed.json()["error"]) == {"code", "message", "details"}
