"""`/codec/export`: the decoded history an operator may keep in a file holds none of the tenant's personal
values, on the running platform; operators only, as `/codec/decode`."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from google.protobuf import json_format

from contracts.conversation import conversation_workflow_id
from tests.core.pii.values import known_values
from tests.e2e.platform import Platform
from tests.e2e.sse import completed_for, read_frames

from .conftest import operator_token
from .test_history_at_rest import _raw_history
from .test_sdk_paths import application_payloads

VALUES = known_values(30, seed=404)


@pytest.fixture(scope="module")
def operator(platform: Platform) -> httpx.Client:
    headers = {
        "Authorization": f"Bearer {operator_token(platform)}",
        "X-Namespace": platform.settings.temporal_namespace,
    }
    with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30.0) as client:
        yield client  # type: ignore[misc]


def test_an_exported_history_holds_no_value_the_decoded_one_shows(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str], operator: httpx.Client
) -> None:
    text = "My details: " + "; ".join(v for _k, v in VALUES)
    conversation_id = api.post("/v1/conversations", json={}).json()["id"]
    message = {"content": text, "client_message_id": f"export-{conversation_id}"}
    # A busy machine may not confirm in time; the client message id makes the retry the same message.
    for _attempt in range(3):
        posted = api.post(f"/v1/conversations/{conversation_id}/messages", json=message)
        if posted.status_code != 503:
            break
    assert posted.status_code in (200, 202), posted.text
    message_id = posted.json()["message_id"]
    read_frames(api, conversation_id, completed_for(message_id))
    history = asyncio.run(_raw_history(platform, conversation_workflow_id(tenant_a[0], conversation_id)))
    body = {"payloads": [json_format.MessageToDict(p) for e in history.events for _, p in application_payloads(e)]}

    def opened(path: str) -> str:
        response = operator.post(path, json=body)
        assert response.status_code == 200, response.text
        return " ".join(base64.b64decode(p.get("data", "")).decode() for p in response.json()["payloads"])

    assert all(v in opened("/codec/decode") for _k, v in VALUES)
    exported = opened("/codec/export/decode")
    assert [v for _k, v in VALUES if v in exported] == []
    assert "[email]" in exported and "My details:" in exported
    # Still the payloads Temporal expects: JSON, one per payload.
    response = operator.post("/codec/export/decode", json=body).json()["payloads"]
    assert len(response) == len(body["payloads"])
    assert all(json.loads(base64.b64decode(p["data"])) is not None for p in response if p.get("data"))


def test_a_tenant_key_or_no_credentials_cannot_export(platform: Platform, tenant_a: tuple[str, str]) -> None:
    url = f"{platform.base_url}/codec/export/decode"
    forbidden = httpx.post(url, json={"payloads": []}, headers={"Authorization": f"Bearer {tenant_a[1]}"})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    anonymous = httpx.post(url, json={"payloads": []})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"
