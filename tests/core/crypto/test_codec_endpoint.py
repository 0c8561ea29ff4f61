"""The codec endpoint for Temporal UI and the CLI: operators only, Temporal's JSON protocol, CORS for the UI."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from api.errors import install_error_handlers
from api.routes import codec as codec_route
from contracts.conversation import conversation_workflow_id
from core.settings import Settings
from tests.e2e.platform import Platform
from tests.e2e.sse import completed_for, read_frames

from .conftest import operator_token
from .test_history_at_rest import _raw_history
from .test_sdk_paths import application_payloads

UI_ORIGIN = "http://127.0.0.1:8233"


def _plain(text: str) -> dict[str, object]:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())
    return json_format.MessageToDict(payload)


@pytest.fixture(scope="module")
def operator(platform: Platform) -> httpx.Client:
    headers = {
        "Authorization": f"Bearer {operator_token(platform)}",
        "X-Namespace": platform.settings.temporal_namespace,
    }
    with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30.0) as client:
        yield client  # type: ignore[misc]


def test_operator_decodes_a_conversations_payloads(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str], operator: httpx.Client
) -> None:
    secret = f"ring me on 555-{uuid.uuid4().hex[:6]}"
    conversation_id = api.post("/v1/conversations", json={}).json()["id"]
    posted = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": secret})
    message_id = posted.json()["message_id"]
    read_frames(api, conversation_id, completed_for(message_id))
    history = asyncio.run(_raw_history(platform, conversation_workflow_id(tenant_a[0], conversation_id)))
    encrypted = [p for event in history.events for _, p in application_payloads(event)]
    body = {"payloads": [json_format.MessageToDict(p) for p in encrypted]}
    assert secret not in json.dumps(body)

    response = operator.post("/codec/decode", json=body)
    assert response.status_code == 200, response.text
    decoded = response.json()["payloads"]
    assert len(decoded) == len(encrypted)
    texts = [base64.b64decode(p.get("data", "")).decode() for p in decoded]
    assert any(secret in t for t in texts) and any(f"echo: {secret}" in t for t in texts)
    assert {base64.b64decode(p["metadata"]["encoding"]) for p in decoded} <= {b"json/plain", b"binary/null"}


def test_encode_then_decode_round_trips_under_the_platform_key(operator: httpx.Client) -> None:
    original = _plain("an operator's signal")
    encoded = operator.post("/codec/encode", json={"payloads": [original]})
    assert encoded.status_code == 200, encoded.text
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert base64.b64decode(sealed["metadata"]["encryption-tenant"]) == b"_platform"
    decoded = operator.post("/codec/decode", json=encoded.json())
    assert decoded.json() == {"payloads": [original]}
    # Payloads the codec never encoded come back as they are.
    assert operator.post("/codec/decode", json={"payloads": [original]}).json() == {"payloads": [original]}


def test_a_tampered_payload_is_refused_with_its_index(operator: httpx.Client) -> None:
    [sealed] = operator.post("/codec/encode", json={"payloads": [_plain("x")]}).json()["payloads"]
    data = bytearray(base64.b64decode(sealed["data"]))
    data[-1] ^= 1
    tampered = {**sealed, "data": base64.b64encode(bytes(data)).decode()}
    response = operator.post("/codec/decode", json={"payloads": [_plain("fine"), tampered]})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "payload_not_decryptable"
    assert response.json()["error"]["details"] == {"index": 1}


def test_a_tenant_api_key_is_forbidden(platform: Platform, tenant_a: tuple[str, str]) -> None:
    for path in ("/codec/decode", "/codec/encode"):
        response = httpx.post(
            f"{platform.base_url}{path}",
            json={"payloads": []},
            headers={"Authorization": f"Bearer {tenant_a[1]}"},
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"


def test_no_credentials_is_unauthenticated(platform: Platform) -> None:
    response = httpx.post(f"{platform.base_url}/codec/decode", json={"payloads": [_plain("x")]})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b'{"payloads": "none"}', 422, "invalid_request"),
        (b'{"payloads": [{"data": 5}]}', 422, "invalid_request"),
        (b'{"payloads": [{"data": "not base64!"}]}', 400, "malformed_payload"),
        (b'{"payloads": [], "extra": 1}', 422, "invalid_request"),
    ],
)
def test_malformed_bodies_are_refused(operator: httpx.Client, body: bytes, status: int, code: str) -> None:
    response = operator.post("/codec/decode", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_another_namespace_is_refused(operator: httpx.Client) -> None:
    response = operator.post("/codec/decode", json={"payloads": []}, headers={"X-Namespace": "someone-else"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_namespace"


def test_preflight_from_an_unknown_origin_is_refused(platform: Platform) -> None:
    response = httpx.options(
        f"{platform.base_url}/codec/decode",
        headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


class _KnowsNoOne:
    async def authenticate(self, token: str) -> None:
        return None

    async def resolve(self, token: str) -> None:
        return None


def test_the_ui_origin_gets_cors_on_preflight_and_on_errors(settings: Settings) -> None:
    """In-process, with only the codec router: the UI's origin comes from the settings."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(codec_route.router)
    app.state.gateway = SimpleNamespace(
        settings=settings.model_copy(update={"temporal_ui_url": UI_ORIGIN + "/"}), authenticator=_KnowsNoOne()
    )
    with TestClient(app) as client:
        preflight = client.options(
            "/codec/decode",
            headers={
                "Origin": UI_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
        assert preflight.headers["access-control-allow-credentials"] == "true"
        allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "x-namespace"} <= allowed
        # The browser can read the refusal, so the UI can say why it shows encrypted payloads.
        for credentials in ({}, {"Authorization": "Bearer not-a-token"}):
            refused = client.post("/codec/decode", json={"payloads": []}, headers={"Origin": UI_ORIGIN, **credentials})
            assert refused.status_code == 401
            assert refused.headers["access-control-allow-origin"] == UI_ORIGIN
        other = client.post("/codec/decode", json={"payloads": []}, headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
