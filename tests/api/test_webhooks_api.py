"""`/v1/webhooks` on the running platform: registration with a `whsec_` secret, validation and the SSRF
refusal, rotation, redelivery, the delivery log, and tenant B's key on every one of tenant A's ids."""

from __future__ import annotations

import uuid

import httpx

# A public address literal: passes the SSRF check without DNS (deliveries to it just fail and retry).
PUBLIC_URL = "https://93.184.215.14/hooks"


def _endpoint(api: httpx.Client, **body: object) -> dict:
    response = api.post("/v1/webhooks/endpoints", json={"url": PUBLIC_URL, **body})
    assert response.status_code == 201, response.text
    return response.json()


def test_register_rotate_and_validate(api: httpx.Client) -> None:
    created = _endpoint(api, event_types=["invoice.created", "payment.failed"], description="billing")
    assert created["secret"].startswith("whsec_") and created["enabled"]
    read = api.get(f"/v1/webhooks/endpoints/{created['id']}").json()
    assert "secret" not in read and read["event_types"] == ["invoice.created", "payment.failed"]

    rotated = api.post(f"/v1/webhooks/endpoints/{created['id']}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]

    patched = api.patch(f"/v1/webhooks/endpoints/{created['id']}", json={"enabled": False}).json()
    assert patched["enabled"] is False
    listed = api.get("/v1/webhooks/endpoints", params={"limit": 200}).json()
    assert created["id"] in [e["id"] for e in listed["items"]]

    for url in ("http://127.0.0.1:8080/x", "http://169.254.169.254/latest", "http://10.0.0.1/", "ftp://x.example/"):
        refused = api.post("/v1/webhooks/endpoints", json={"url": url})
        assert refused.status_code == 422, url
        assert refused.json()["error"]["code"] == "invalid_request"
    bad_type = api.post("/v1/webhooks/endpoints", json={"url": PUBLIC_URL, "event_types": ["no.such"]})
    assert bad_type.status_code == 422
    assert api.delete(f"/v1/webhooks/endpoints/{created['id']}").status_code == 204
    assert api.get(f"/v1/webhooks/endpoints/{created['id']}").status_code == 404


def test_ping_is_logged_and_redelivered_with_the_same_webhook_id(api: httpx.Client) -> None:
    endpoint = _endpoint(api)
    ping = api.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test")
    assert ping.status_code == 202, ping.text
    delivery = ping.json()
    again = api.post(f"/v1/webhooks/deliveries/{delivery['id']}/redeliver")
    assert again.status_code == 202, again.text
    assert again.json()["message_id"] == delivery["message_id"] and again.json()["id"] != delivery["id"]
    listed = api.get("/v1/webhooks/deliveries", params={"endpoint_id": endpoint["id"]}).json()
    assert {d["id"] for d in listed["items"]} == {delivery["id"], again.json()["id"]}
    detail = api.get(f"/v1/webhooks/deliveries/{delivery['id']}").json()
    assert isinstance(detail["log"], list)


def test_tenant_b_cannot_touch_tenant_a_webhooks(api: httpx.Client, api_b: httpx.Client) -> None:
    endpoint = _endpoint(api)
    delivery = api.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test").json()
    eid, did = endpoint["id"], delivery["id"]
    attempts = [
        api_b.get(f"/v1/webhooks/endpoints/{eid}"),
        api_b.patch(f"/v1/webhooks/endpoints/{eid}", json={"url": PUBLIC_URL + "/b"}),
        api_b.post(f"/v1/webhooks/endpoints/{eid}/rotate-secret"),
        api_b.post(f"/v1/webhooks/endpoints/{eid}/test"),
        api_b.delete(f"/v1/webhooks/endpoints/{eid}"),
        api_b.get(f"/v1/webhooks/deliveries/{did}"),
        api_b.post(f"/v1/webhooks/deliveries/{did}/redeliver"),
    ]
    for response in attempts:
        assert response.status_code == 404, (response.request.url, response.text)
        assert endpoint["secret"] not in response.text
    for listing in ("/v1/webhooks/endpoints", "/v1/webhooks/deliveries"):
        body = api_b.get(listing, params={"limit": 200}).text
        assert eid not in body and did not in body
    filtered = api_b.get("/v1/webhooks/deliveries", params={"endpoint_id": eid}).json()
    assert filtered["items"] == []
    # A's endpoint is untouched by all of that.
    assert api.get(f"/v1/webhooks/endpoints/{eid}").json()["url"] == PUBLIC_URL
    assert api.get(f"/v1/webhooks/endpoints/{uuid.uuid4()}").status_code == 404
    assert api.get("/v1/webhooks/endpoints/not-a-uuid").status_code in {404, 422}


def test_usage_export_is_csv_of_the_callers_tenant_only(api: httpx.Client, api_b: httpx.Client) -> None:
    response = api.get("/v1/usage/export.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines()[0].startswith("settled_at,kind,model")
    assert api.get("/v1/usage/export.csv", params={"from": "2026-02-01", "to": "2026-01-01"}).status_code == 422
    assert api_b.get("/v1/usage/export.csv").status_code == 200
