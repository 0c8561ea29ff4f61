"""`/v1/knowledge/collections/{id}/reembed` on the running platform: a collection moved from MiniLM to the
hashing model by the worker's workflow (search answers throughout and reads the new model after), every chunk
in the new generation once and the old vectors gone, bad input answered 4xx, a second re-embed 409, and another
tenant's collection 404."""

from __future__ import annotations

import uuid

import httpx
import pytest

from knowledge.embeddings import HASHING_DIM, HASHING_MODEL, OFFLINE_MODEL
from tests.e2e.agent_world import rows
from tests.e2e.platform import Platform
from tests.knowledge.reembed_client import wait_status


@pytest.fixture(scope="module")
def collection(api_module: httpx.Client) -> str:
    created = api_module.post("/v1/knowledge/collections", json={"name": f"Reembed {uuid.uuid4().hex[:6]}"})
    assert created.status_code == 201, created.text
    cid = str(created.json()["id"])
    text = "\n\n".join(f"## Rule {i}\n\nRule {i}: parcels to zone {i} ship on day {i}." for i in range(40))
    for name, content in (("rules.md", text), ("islands.md", "## Islands\n\nParcels to islands take nine days.")):
        doc = api_module.post(
            f"/v1/knowledge/collections/{cid}/documents", files={"file": (name, content.encode(), "text/markdown")}
        )
        assert doc.status_code == 202, doc.text
        wait_status(api_module, f"/v1/knowledge/collections/{cid}/documents/{doc.json()['id']}", {"ready"})
    return cid


def test_a_collection_is_reembedded_and_keeps_serving(
    platform: Platform, api_module: httpx.Client, tenant_a: tuple[str, str], collection: str
) -> None:
    query = {"query": "parcels to islands nine days", "collection_ids": [collection], "mode": "vector"}
    before = api_module.post("/v1/knowledge/search", json=query).json()["items"]
    assert before and before[0]["heading"] == "Islands"
    started = api_module.post(
        f"/v1/knowledge/collections/{collection}/reembed", json={"embedding_model": HASHING_MODEL}
    )
    assert started.status_code == 202, started.text
    assert (started.json()["status"], started.json()["from_model"]) == ("running", OFFLINE_MODEL)
    # Searches answer while it runs (from whichever generation the collection reads at that moment).
    again = api_module.post(f"/v1/knowledge/collections/{collection}/reembed", json={"embedding_model": HASHING_MODEL})
    during = api_module.post("/v1/knowledge/search", json=query)
    assert during.status_code == 200 and during.json()["items"][0]["heading"] == "Islands"
    done = wait_status(api_module, f"/v1/knowledge/collections/{collection}/reembed", {"completed", "failed"})
    assert done["status"] == "completed" and done["embedded"] == 41, done
    assert done["switched_at"] is not None and done["finished_at"] is not None
    # A second request while the first ran was refused (unless the first had already finished by then).
    assert again.status_code in (409, 202), again.text
    if again.status_code == 409:
        assert again.json()["error"]["code"] == "reembed_running"
    got = api_module.get(f"/v1/knowledge/collections/{collection}").json()
    assert (got["embedding_model"], got["embedding_dim"]) == (HASHING_MODEL, HASHING_DIM)
    counts = rows(
        platform.settings, tenant_a[0],
        "SELECT count(*) AS chunks, count(DISTINCT (document_id, ord)) AS distinct_chunks,"
        " count(embedding) AS slot0, count(embedding_alt) AS slot1 FROM knowledge_chunks WHERE collection_id = :c",
        c=collection,
    )[0]  # fmt: skip
    assert counts == {"chunks": 41, "distinct_chunks": 41, "slot0": 0, "slot1": 41}
    after = api_module.post("/v1/knowledge/search", json=query).json()["items"]
    assert after and after[0]["heading"] == "Islands"


def test_bad_reembed_requests_are_refused_clearly(api_module: httpx.Client, collection: str) -> None:
    url = f"/v1/knowledge/collections/{collection}/reembed"
    cases = [
        ({"embedding_model": "nope/unknown"}, 422, "unknown_embedding_model"),
        ({"embedding_model": OFFLINE_MODEL, "embedding_dim": 1536}, 422, "embedding_dim_mismatch"),
        ({"embedding_model": OFFLINE_MODEL, "embedding_dim": 0}, 422, None),
        ({}, 422, None),
        ({"embedding_model": OFFLINE_MODEL, "extra": 1}, 422, None),
        ({"embedding_model": "x\u0000y"}, 422, None),
    ]
    for body, status, code in cases:
        response = api_module.post(url, json=body)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}
        if code:
            assert response.json()["error"]["code"] == code
    current = api_module.get(f"/v1/knowledge/collections/{collection}").json()["embedding_model"]
    unchanged = api_module.post(url, json={"embedding_model": current})
    assert unchanged.status_code == 422 and unchanged.json()["error"]["code"] == "embedding_model_unchanged"
    unknown = f"/v1/knowledge/collections/{uuid.uuid4()}/reembed"
    assert api_module.post(unknown, json={"embedding_model": HASHING_MODEL}).status_code == 404
    assert api_module.get(unknown).status_code == 404
    assert api_module.get("/v1/knowledge/collections/not-a-uuid/reembed").status_code == 422
    fresh = api_module.post("/v1/knowledge/collections", json={"name": f"Never {uuid.uuid4().hex[:6]}"}).json()
    never = api_module.get(f"/v1/knowledge/collections/{fresh['id']}/reembed")
    assert never.status_code == 404 and never.json()["error"]["code"] == "reembed_not_found"


def test_another_tenant_cannot_reembed_or_watch(api_module: httpx.Client, api_b: httpx.Client, collection: str) -> None:
    url = f"/v1/knowledge/collections/{collection}/reembed"
    before = api_module.get(f"/v1/knowledge/collections/{collection}").json()
    attempt = api_b.post(url, json={"embedding_model": OFFLINE_MODEL})
    assert attempt.status_code == 404 and attempt.json()["error"]["code"] == "collection_not_found"
    assert api_b.get(url).status_code == 404
    # Nothing changed for the owner.
    assert api_module.get(f"/v1/knowledge/collections/{collection}").json() == before
