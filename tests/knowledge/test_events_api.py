"""`GET /v1/knowledge/collections/{id}/events` on the running platform: a document's ingestion progress as
Server-Sent Events, ending when it settles; resume after an event id; another collection's events never
shown; another tenant's collection and document ids answered 404, bad cursors 400."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.knowledge import documents
from tests.knowledge.test_api import _collection, _settled, _upload


def _events(api: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every event of a stream that ends by itself (a document's), with its id."""
    found: list[dict[str, Any]] = []
    with api.stream("GET", path, params=params, timeout=httpx.Timeout(10.0, read=90.0)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id = None
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                found.append({"id": event_id, **json.loads(line[6:])})
    return found


def _document(api: httpx.Client, collection_id: str, topic: str) -> str:
    content = documents.markdown([(topic, f"{topic} is explained in this note, {uuid.uuid4().hex}.")])
    uploaded = _upload(api, collection_id, content, f"{topic}.md", "text/markdown")
    assert uploaded.status_code == 202, uploaded.text
    return str(uploaded.json()["id"])


def test_a_documents_stream_shows_its_progress_and_ends_when_it_settles(api: httpx.Client) -> None:
    collection = _collection(api)["id"]
    first = _document(api, collection, "Returns")
    second = _document(api, collection, "Shipping")
    path = f"/v1/knowledge/collections/{collection}/events"
    events = _events(api, path, document_id=first)
    assert [e["type"] for e in events][-1] == "ingest.completed"
    assert {"ingest.progress"} <= {e["type"] for e in events}
    assert all(e["data"]["document_id"] == first and e["data"]["collection_id"] == collection for e in events)
    parsed = next(e for e in events if e["data"].get("stage") == "parsed")
    assert parsed["data"]["chunks"] >= 1
    # Resuming after the first event gives the rest, nothing repeated.
    rest = _events(api, path, document_id=first, after=events[0]["id"])
    assert [e["id"] for e in rest] == [e["id"] for e in events[1:]]
    # The other document of the collection has its own stream.
    assert _settled(api, collection, second)["status"] == "ready"
    assert {e["data"]["document_id"] for e in _events(api, path, document_id=second)} == {second}


def test_another_tenants_streams_are_not_found(api: httpx.Client, api_b: httpx.Client) -> None:
    collection = _collection(api)["id"]
    document = _document(api, collection, "Warranty")
    path = f"/v1/knowledge/collections/{collection}/events"
    for client, params in ((api_b, {}), (api_b, {"document_id": document})):
        response = client.get(path, params=params)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "collection_not_found")
    # B's own collection with A's document id: not found either, and B's stream carries none of A's events.
    own = _collection(api_b)["id"]
    response = api_b.get(f"/v1/knowledge/collections/{own}/events", params={"document_id": document})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "document_not_found")
    mine = _document(api_b, own, "Sizes")
    seen = _events(api_b, f"/v1/knowledge/collections/{own}/events", document_id=mine)
    assert seen and {e["data"]["document_id"] for e in seen} == {mine}
    # A document of another collection of the same tenant is not this collection's.
    other = _collection(api)["id"]
    response = api.get(f"/v1/knowledge/collections/{other}/events", params={"document_id": document})
    assert response.status_code == 404


def test_bad_stream_parameters_are_refused(api: httpx.Client) -> None:
    collection = _collection(api)["id"]
    path = f"/v1/knowledge/collections/{collection}/events"
    response = api.get(path, headers={"Last-Event-ID": "not-an-id"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_event_id")
    assert api.get(path, params={"document_id": "nope"}).status_code == 422
    assert api.get("/v1/knowledge/collections/nope/events").status_code == 422
