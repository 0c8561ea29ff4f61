"""The console's knowledge pages against a real gateway and worker: collections, uploads ingested by the
workflow with their status streamed live, the API's refusals (413, 415, 409, 422) shown on the page with the
API's status, re-ingest, delete, a re-embed started and followed, and a search showing cited chunks. Each page
has its `/v1` route's permission; another tenant's collections and documents are 404, as a malformed id is.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.console.conftest import ConsoleGateway, new_tenant
from tests.console.console_client import Console, signed_in
from tests.e2e.platform import Platform
from tests.knowledge import documents

HASHING = "offline/feature-hash-256"
_AFTER = re.compile(r'data-after="([^"]+)"')


@pytest.fixture(scope="module")
def tenant(platform: Platform) -> tuple[str, str]:
    return new_tenant(platform, "Console knowledge")


@pytest.fixture
def owner(console_gateway: ConsoleGateway, tenant: tuple[str, str]) -> Iterator[Console]:
    with signed_in(console_gateway.url, tenant[1]) as console:
        yield console


@pytest.fixture(scope="module")
def api(console_gateway: ConsoleGateway, tenant: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=console_gateway.url, headers={"Authorization": f"Bearer {tenant[1]}"}, timeout=30
    ) as client:
        yield client


def upload(console: Console, collection_id: str, content: bytes, filename: str, media_type: str) -> httpx.Response:
    return console.http.post(
        f"/console/knowledge/collections/{collection_id}/documents",
        files={"file": (filename, content, media_type)},
        data={"csrf_token": console.csrf, "groups": ""},
        headers={"Origin": console.base_url},
    )


def create_collection(console: Console, name: str, model: str = HASHING) -> str:
    created = console.post("/console/knowledge/collections", {"name": name, "embedding_model": model})
    assert created.status_code == 303, created.text
    return created.headers["location"].rsplit("/", 1)[1]


def settled(api: httpx.Client, collection_id: str, document_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = api.get(f"/v1/knowledge/collections/{collection_id}/documents/{document_id}").json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"document {document_id} did not settle: {body}")


def _only_document(api: httpx.Client, collection_id: str, filename: str) -> str:
    listed = api.get(f"/v1/knowledge/collections/{collection_id}/documents").json()["items"]
    return next(d["id"] for d in listed if d["filename"] == filename)


def _stream_until(console: Console, path: str, document_id: str) -> list[dict[str, Any]]:
    """The stream's events until the document's ingestion ends, each with its id."""
    found: list[dict[str, Any]] = []
    with console.http.stream("GET", path, timeout=httpx.Timeout(10.0, read=60.0)) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        event_id = None
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                event = {"id": event_id, **json.loads(line[6:])}
                found.append(event)
                if event["type"] in ("ingest.completed", "ingest.failed") and (
                    event["data"]["document_id"] == document_id
                ):
                    return found
    return found


def test_collections_are_created_listed_and_refused_clearly(owner: Console) -> None:
    name = f"Help {uuid.uuid4().hex[:6]}"
    collection_id = create_collection(owner, name)
    listed = owner.get("/console/knowledge")
    assert listed.status_code == 200 and f'data-collection="{collection_id}"' in listed.text
    page = owner.get(f"/console/knowledge/collections/{collection_id}")
    assert page.status_code == 200 and HASHING in page.text and "No documents" in page.text
    again = owner.post("/console/knowledge/collections", {"name": name})
    assert again.status_code == 409 and 'data-code="collection_exists"' in again.text
    unknown = owner.post("/console/knowledge/collections", {"name": "x", "embedding_model": "nobody/model"})
    assert unknown.status_code == 422 and 'data-code="unknown_embedding_model"' in unknown.text
    nameless = owner.post("/console/knowledge/collections", {"name": " "})
    assert nameless.status_code == 422 and "name" in nameless.text


def test_an_upload_is_ingested_with_its_progress_streamed_live(owner: Console, api: httpx.Client) -> None:
    collection_id = create_collection(owner, f"Live {uuid.uuid4().hex[:6]}")
    page = owner.get(f"/console/knowledge/collections/{collection_id}")
    after = _AFTER.search(page.text)
    assert after, "the page gives its live view no cursor"
    content = documents.markdown([("Returns", f"Unworn shoes come back within 30 days. {uuid.uuid4().hex}")])
    sent = upload(owner, collection_id, content, "returns.md", "text/markdown")
    assert sent.status_code == 303, sent.text
    document_id = _only_document(api, collection_id, "returns.md")
    shown = owner.get(f"/console/knowledge/collections/{collection_id}")
    assert f'data-document="{document_id}"' in shown.text
    # The page's stream, from the cursor the page was rendered with: this document's progress to its end.
    events = _stream_until(
        owner, f"/console/knowledge/collections/{collection_id}/events?after={after.group(1)}", document_id
    )
    assert [e["type"] for e in events][-1] == "ingest.completed"
    assert {"ingest.progress"} <= {e["type"] for e in events}
    assert all(e["data"]["collection_id"] == collection_id for e in events)
    ready = owner.get(f"/console/knowledge/collections/{collection_id}?status=ready")
    assert f'data-document="{document_id}" data-status="ready"' in ready.text
    # Resuming with Last-Event-ID gives what came after, nothing again.
    rest = _stream_after(owner, collection_id, events[-2]["id"])
    assert rest == events[-1]["id"]


def _stream_after(console: Console, collection_id: str, last_event_id: str) -> str | None:
    path = f"/console/knowledge/collections/{collection_id}/events"
    with console.http.stream(
        "GET", path, headers={"Last-Event-ID": last_event_id}, timeout=httpx.Timeout(10.0, read=30.0)
    ) as response:
        for line in response.iter_lines():
            if line.startswith("id: "):
                return line[4:]
    return None


def test_the_apis_upload_refusals_are_shown_with_their_status(owner: Console, api: httpx.Client) -> None:
    collection_id = create_collection(owner, f"Refusals {uuid.uuid4().hex[:6]}")
    png = upload(owner, collection_id, b"\x89PNG\r\n\x1a\n....", "photo.png", "image/png")
    assert png.status_code == 415 and 'data-code="unsupported_document_type"' in png.text
    # The pro plan takes 20 MiB; a bigger file is refused before its body is read.
    big = upload(owner, collection_id, b"a" * (20 * 1024 * 1024 + 10), "big.txt", "text/plain")
    assert big.status_code == 413 and 'data-code="file_too_large"' in big.text
    empty = upload(owner, collection_id, b"", "empty.txt", "text/plain")
    assert empty.status_code == 422 and 'data-code="file_empty"' in empty.text
    no_token = owner.http.post(
        f"/console/knowledge/collections/{collection_id}/documents",
        files={"file": ("a.txt", b"hello", "text/plain")},
        headers={"Origin": owner.base_url},
    )
    assert no_token.status_code == 403 and "csrf_failed" in no_token.text
    assert api.get(f"/v1/knowledge/collections/{collection_id}/documents").json()["items"] == []


def test_reingest_delete_and_a_reembed(owner: Console, api: httpx.Client) -> None:
    collection_id = create_collection(owner, f"Manage {uuid.uuid4().hex[:6]}")
    content = documents.markdown([("Warranty", f"Two years on every pair. {uuid.uuid4().hex}")])
    assert upload(owner, collection_id, content, "warranty.md", "text/markdown").status_code == 303
    document_id = _only_document(api, collection_id, "warranty.md")
    assert settled(api, collection_id, document_id)["status"] == "ready"
    base = f"/console/knowledge/collections/{collection_id}"
    again = owner.post(f"{base}/documents/{document_id}/reingest")
    assert again.status_code == 303
    assert settled(api, collection_id, document_id)["status"] == "ready"

    moved = owner.post(f"{base}/reembed", {"embedding_model": "offline/all-minilm-l6-v2-int8"})
    assert moved.status_code == 303, moved.text
    # Running still (409), or done and so the model the collection uses (422): refused on the page either way.
    same = owner.post(f"{base}/reembed", {"embedding_model": "offline/all-minilm-l6-v2-int8"})
    assert same.status_code in (409, 422) and 'id="form-error"' in same.text
    deadline = time.monotonic() + 60
    while api.get(f"/v1/knowledge/collections/{collection_id}/reembed").json()["status"] == "running":
        assert time.monotonic() < deadline, "the re-embed did not finish"
        time.sleep(0.3)
    shown = owner.get(base)
    assert 'id="reembed-status">completed' in shown.text
    assert 'id="collection-model">offline/all-minilm-l6-v2-int8' in shown.text

    assert owner.post(f"{base}/documents/{document_id}/delete").status_code == 303
    assert api.get(f"/v1/knowledge/collections/{collection_id}/documents/{document_id}").status_code == 404
    unconfirmed = owner.post(f"{base}/delete")
    assert unconfirmed.status_code == 422 and 'data-code="confirmation_required"' in unconfirmed.text
    assert owner.post(f"{base}/delete", {"confirm": "yes"}).status_code == 303
    assert api.get(f"/v1/knowledge/collections/{collection_id}").status_code == 404
    assert owner.get(base).status_code == 404


def test_a_running_reembed_is_cancelled_behind_a_confirmation(owner: Console, api: httpx.Client) -> None:
    collection_id = create_collection(owner, f"Cancel {uuid.uuid4().hex[:6]}")
    sections = [(f"Rule {i}", f"Parcels to zone {i} ship on day {i}.") for i in range(300)]
    assert upload(owner, collection_id, documents.markdown(sections), "rules.md", "text/markdown").status_code == 303
    assert settled(api, collection_id, _only_document(api, collection_id, "rules.md"))["status"] == "ready"
    base = f"/console/knowledge/collections/{collection_id}"
    assert owner.post(f"{base}/reembed", {"embedding_model": "offline/all-minilm-l6-v2-int8"}).status_code == 303
    assert 'id="cancel-reembed"' in owner.get(base).text
    unconfirmed = owner.post(f"{base}/reembed/cancel")
    assert unconfirmed.status_code == 422 and 'data-code="confirmation_required"' in unconfirmed.text
    assert api.get(f"/v1/knowledge/collections/{collection_id}/reembed").json()["cancel_requested_at"] is None
    cancelled = owner.post(f"{base}/reembed/cancel", {"confirm": "yes"})
    assert cancelled.status_code == 303, cancelled.text
    deadline = time.monotonic() + 120
    while (run := api.get(f"/v1/knowledge/collections/{collection_id}/reembed").json())["status"] == "running":
        assert time.monotonic() < deadline, "the cancelled re-embed did not finish"
        time.sleep(0.3)
    assert run["status"] == "cancelled" and run["switched_at"] is None, run
    shown = owner.get(base)
    assert 'id="reembed-status">cancelled' in shown.text and 'id="cancel-reembed"' not in shown.text
    assert f'id="collection-model">{HASHING}' in shown.text
    # Nothing runs any more: refused on the page with the API's 409.
    again = owner.post(f"{base}/reembed/cancel", {"confirm": "yes"})
    assert again.status_code == 409 and 'data-code="reembed_not_running"' in again.text


def test_a_search_shows_the_cited_chunks(owner: Console, api: httpx.Client) -> None:
    collection_id = create_collection(owner, f"Search {uuid.uuid4().hex[:6]}")
    policy = documents.pdf(
        ["Shipping policy\nWe ship to forty countries.", "Return policy\nUnworn boots return within 45 days."]
    )
    assert upload(owner, collection_id, policy, "policy.pdf", "application/pdf").status_code == 303
    assert settled(api, collection_id, _only_document(api, collection_id, "policy.pdf"))["status"] == "ready"
    form = owner.get("/console/knowledge/search")
    assert form.status_code == 200 and collection_id in form.text
    found = owner.post(
        "/console/knowledge/search",
        {"query": "return boots within 45 days", "collection_ids": collection_id, "mode": "text", "top_k": "3"},
    )
    assert found.status_code == 200, found.text
    first = found.text.split('class="passage"', 2)[1]
    assert "policy.pdf" in first and "page 2" in first and "45 days" in first
    bad = owner.post("/console/knowledge/search", {"query": "x", "groups": "not a group!"})
    assert bad.status_code == 422 and 'data-code="invalid_groups"' in bad.text


def test_a_viewer_reads_but_may_not_change(console_gateway: ConsoleGateway, owner: Console, api: httpx.Client) -> None:
    collection_id = create_collection(owner, f"Viewer {uuid.uuid4().hex[:6]}")
    key = api.post("/v1/api-keys", json={"name": "reader", "role": "viewer"}).json()["api_key"]
    with signed_in(console_gateway.url, key) as viewer:
        assert viewer.get(f"/console/knowledge/collections/{collection_id}").status_code == 200
        refused = upload(viewer, collection_id, b"hello there", "a.txt", "text/plain")
        assert refused.status_code == 403 and "agents:manage" in refused.text
        created = viewer.post("/console/knowledge/collections", {"name": "mine"})
        assert created.status_code == 403
        assert (
            viewer.post(f"/console/knowledge/collections/{collection_id}/delete", {"confirm": "yes"}).status_code == 403
        )
        cancel = viewer.post(f"/console/knowledge/collections/{collection_id}/reembed/cancel", {"confirm": "yes"})
        assert cancel.status_code == 403
    assert api.get(f"/v1/knowledge/collections/{collection_id}").status_code == 200


def test_another_tenants_collections_and_documents_are_not_found(
    console_gateway: ConsoleGateway, platform: Platform, owner: Console, api: httpx.Client
) -> None:
    collection_id = create_collection(owner, f"Private {uuid.uuid4().hex[:6]}")
    content = documents.markdown([("Secret", "Only tenant A may read ZEBRA-KNOW-17.")])
    assert upload(owner, collection_id, content, "secret.md", "text/markdown").status_code == 303
    document_id = _only_document(api, collection_id, "secret.md")
    assert settled(api, collection_id, document_id)["status"] == "ready"
    base = f"/console/knowledge/collections/{collection_id}"
    with signed_in(console_gateway.url, new_tenant(platform, "Knowledge intruder")[1]) as intruder:
        for path in (base, f"{base}/events", "/console/knowledge/collections/not-a-uuid"):
            assert intruder.get(path).status_code == 404, path
        for path in (f"{base}/documents/{document_id}/reingest", f"{base}/documents/{document_id}/delete"):
            assert intruder.post(path).status_code == 404, path
        assert intruder.post(f"{base}/delete", {"confirm": "yes"}).status_code == 404
        assert intruder.post(f"{base}/reembed/cancel", {"confirm": "yes"}).status_code == 404
        assert upload(intruder, collection_id, b"planted", "planted.txt", "text/plain").status_code == 404
        searched = intruder.post(
            "/console/knowledge/search", {"query": "ZEBRA-KNOW-17", "collection_ids": collection_id}
        )
        assert searched.status_code == 200 and "ZEBRA-KNOW-17" not in searched.text.split("<h2>Cited chunks</h2>")[1]
    assert settled(api, collection_id, document_id)["status"] == "ready"
    assert [d["filename"] for d in api.get(f"/v1/knowledge/collections/{collection_id}/documents").json()["items"]] == [
        "secret.md"
    ]
