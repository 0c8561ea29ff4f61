"""`/v1/knowledge` on the running platform: collections, uploads ingested by the worker's workflow, search with
pages and visibility groups, bad input answered clearly, deletes that purge, and another tenant locked out."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.agent_world import rows
from tests.e2e.platform import Platform
from tests.knowledge import documents

PDF = "application/pdf"
MD = "text/markdown"


def _collection(api: httpx.Client) -> dict[str, Any]:
    response = api.post("/v1/knowledge/collections", json={"name": f"Help {uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    return response.json()


def _upload(
    api: httpx.Client, collection_id: str, content: bytes, filename: str, media_type: str, **form: str
) -> httpx.Response:
    return api.post(
        f"/v1/knowledge/collections/{collection_id}/documents",
        files={"file": (filename, content, media_type)},
        data=form,
    )


def _settled(api: httpx.Client, collection_id: str, document_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/v1/knowledge/collections/{collection_id}/documents/{document_id}").json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"document {document_id} did not settle: {body}")


def _search(api: httpx.Client, query: str, **extra: Any) -> list[dict[str, Any]]:
    response = api.post("/v1/knowledge/search", json={"query": query, **extra})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _search_status(api: httpx.Client, body: dict[str, Any]) -> int:
    response = api.post("/v1/knowledge/search", json=body)
    assert set(response.json()) == ({"items"} if response.status_code == 200 else {"error"})
    return response.status_code


@pytest.fixture(scope="module")
def handbook(api_module: httpx.Client) -> dict[str, Any]:
    """A collection with a two-page PDF policy (ready) and a staff-only Markdown note."""
    collection = _collection(api_module)
    policy = documents.pdf(
        [
            "Shipping policy\nWe ship to forty countries within five working days.",
            "Return policy\nUnworn shoes may be returned within 30 days for a full refund.",
        ]
    )
    uploaded = _upload(api_module, collection["id"], policy, "policy.pdf", PDF)
    assert uploaded.status_code == 202, uploaded.text
    assert uploaded.json()["status"] == "pending"
    staff = documents.markdown([("Discount codes", "Staff may grant the code ZEBRA-STAFF-15 to upset customers.")])
    note = _upload(api_module, collection["id"], staff, "staff.md", MD, groups="staff, managers")
    assert note.status_code == 202, note.text
    ready = _settled(api_module, collection["id"], uploaded.json()["id"])
    ready_note = _settled(api_module, collection["id"], note.json()["id"])
    assert (ready["status"], ready["pages"], ready_note["status"]) == ("ready", 2, "ready"), (ready, ready_note)
    assert ready_note["groups"] == ["managers", "staff"]
    return {"collection": collection, "policy": ready, "note": ready_note, "pdf": policy}


@pytest.fixture(scope="module")
def api_module(platform: Platform, tenant_a: tuple[str, str]) -> Any:
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {tenant_a[1]}"}, timeout=30) as c:
        yield c


def test_search_finds_the_passage_with_its_document_and_page(api_module: httpx.Client, handbook: dict) -> None:
    hits = _search(
        api_module, "How many days do I have to return shoes?", collection_ids=[handbook["collection"]["id"]]
    )
    assert hits, "no passage found"
    top = hits[0]
    assert (top["document_id"], top["filename"], top["page"]) == (handbook["policy"]["id"], "policy.pdf", 2)
    assert "30 days" in top["text"] and top["score"] > 0
    for mode in ("vector", "text"):
        assert _search(api_module, "return shoes within 30 days", mode=mode)[0]["page"] == 2


def test_visibility_groups_are_applied_inside_the_search(api_module: httpx.Client, handbook: dict) -> None:
    query = "discount code for upset customers"
    assert all(h["document_id"] != handbook["note"]["id"] for h in _search(api_module, query))
    assert all(h["document_id"] != handbook["note"]["id"] for h in _search(api_module, query, groups=["vip"]))
    assert _search(api_module, query, groups=["staff"])[0]["document_id"] == handbook["note"]["id"]


def test_the_same_file_twice_is_one_document(api_module: httpx.Client, handbook: dict) -> None:
    again = _upload(api_module, handbook["collection"]["id"], handbook["pdf"], "copy.pdf", PDF)
    assert again.status_code == 200
    assert again.json()["id"] == handbook["policy"]["id"]
    listed = api_module.get(f"/v1/knowledge/collections/{handbook['collection']['id']}/documents?status=ready").json()
    assert sorted(d["id"] for d in listed["items"]) == sorted([handbook["policy"]["id"], handbook["note"]["id"]])


def test_bad_uploads_are_refused_clearly(api_module: httpx.Client, handbook: dict) -> None:
    cid = handbook["collection"]["id"]
    png = _upload(api_module, cid, b"\x89PNG\r\n\x1a\n....", "photo.png", "image/png")
    assert png.status_code == 415 and png.json()["error"]["code"] == "unsupported_document_type"
    big = _upload(api_module, cid, b"a" * (20 * 1024 * 1024 + 10), "big.txt", "text/plain")
    assert big.status_code == 413 and big.json()["error"]["code"] == "file_too_large"
    json_body = api_module.post(f"/v1/knowledge/collections/{cid}/documents", json={"file": "x"})
    assert json_body.status_code == 415
    bad_meta = _upload(api_module, cid, b"hello there", "a.txt", "text/plain", metadata="[1]")
    assert bad_meta.status_code == 422 and bad_meta.json()["error"]["code"] == "invalid_metadata"
    bad_groups = _upload(api_module, cid, b"hello there", "a.txt", "text/plain", groups="ok, not ok!")
    assert bad_groups.status_code == 422
    assert _search_status(api_module, {"query": "a\x00b"}) == 422
    assert _search_status(api_module, {"query": "x", "groups": ["bad group!"]}) == 422
    assert _search_status(api_module, {"query": "x", "metadata": {"k": "\x00"}}) == 422
    missing = api_module.post(f"/v1/knowledge/collections/{uuid.uuid4()}/documents", files={"file": ("a.txt", b"x")})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("content", "reason"),
    [(documents.encrypted_pdf("secret"), "encrypted"), (b"%PDF-1.4\ngarbage\n%%EOF", "corrupt")],
)
def test_an_unreadable_pdf_fails_with_a_reason(api_module: httpx.Client, content: bytes, reason: str) -> None:
    collection = _collection(api_module)
    uploaded = _upload(api_module, collection["id"], content, "bad.pdf", PDF)
    assert uploaded.status_code == 202
    settled = _settled(api_module, collection["id"], uploaded.json()["id"])
    assert settled["status"] == "failed" and reason in settled["reason"]
    # Nothing else is lost: the collection takes the next document (a stray NUL in it is dropped, not fatal).
    fine = _upload(api_module, collection["id"], b"Opening hours\x00 are nine to five.", "hours.txt", "text/plain")
    settled = _settled(api_module, collection["id"], fine.json()["id"])
    assert (settled["status"], settled["filename"]) == ("ready", "hours.txt")


def test_deleting_purges_chunks_and_reingest_rebuilds_them(
    platform: Platform, api_module: httpx.Client, tenant_a
) -> None:
    collection = _collection(api_module)
    cid = collection["id"]
    doc = _upload(api_module, cid, b"The warranty lasts two years on kettles.", "w.txt", "text/plain").json()
    _settled(api_module, cid, doc["id"])
    count = "SELECT count(*) AS n FROM knowledge_chunks WHERE document_id = :d"
    assert rows(platform.settings, tenant_a[0], count, d=doc["id"])[0]["n"] == 1
    again = api_module.post(f"/v1/knowledge/collections/{cid}/documents/{doc['id']}/reingest")
    assert again.status_code == 202 and again.json()["status"] == "pending"
    assert _settled(api_module, cid, doc["id"])["status"] == "ready"
    assert rows(platform.settings, tenant_a[0], count, d=doc["id"])[0]["n"] == 1
    assert api_module.delete(f"/v1/knowledge/collections/{cid}/documents/{doc['id']}").status_code == 204
    assert api_module.get(f"/v1/knowledge/collections/{cid}/documents/{doc['id']}").status_code == 404
    assert rows(platform.settings, tenant_a[0], count, d=doc["id"])[0]["n"] == 0
    assert api_module.delete(f"/v1/knowledge/collections/{cid}").status_code == 204
    assert api_module.get(f"/v1/knowledge/collections/{cid}").status_code == 404
    assert api_module.delete(f"/v1/knowledge/collections/{cid}").status_code == 404


def test_collections_are_listed_and_names_are_unique(api_module: httpx.Client) -> None:
    created = _collection(api_module)
    again = api_module.post("/v1/knowledge/collections", json={"name": created["name"]})
    assert again.status_code == 409
    assert created["embedding_dim"] == 384
    unknown = api_module.post("/v1/knowledge/collections", json={"name": "x", "embedding_model": "nope/unknown"})
    assert unknown.status_code == 422
    ids: list[str] = []
    cursor = None
    while True:
        page = api_module.get(
            "/v1/knowledge/collections", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        ids += [c["id"] for c in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert created["id"] in ids and len(ids) == len(set(ids))


def test_another_tenant_sees_and_touches_nothing(api_module: httpx.Client, api_b: httpx.Client, handbook: dict) -> None:
    cid, did = handbook["collection"]["id"], handbook["policy"]["id"]
    assert api_b.get(f"/v1/knowledge/collections/{cid}").status_code == 404
    assert api_b.get(f"/v1/knowledge/collections/{cid}/documents").status_code == 404
    assert api_b.get(f"/v1/knowledge/collections/{cid}/documents/{did}").status_code == 404
    assert _upload(api_b, cid, b"planted text", "x.txt", "text/plain").status_code == 404
    assert api_b.post(f"/v1/knowledge/collections/{cid}/documents/{did}/reingest").status_code == 404
    assert api_b.delete(f"/v1/knowledge/collections/{cid}/documents/{did}").status_code == 404
    assert api_b.delete(f"/v1/knowledge/collections/{cid}").status_code == 404
    assert cid not in [c["id"] for c in api_b.get("/v1/knowledge/collections").json()["items"]]
    # Naming the other tenant's collection in a search finds nothing of it, whatever the groups.
    hits = _search(api_b, "return shoes within 30 days", collection_ids=[cid], groups=["staff", "managers"])
    assert hits == []
    # Still all there for its owner.
    assert api_module.get(f"/v1/knowledge/collections/{cid}/documents/{did}").json()["status"] == "ready"
