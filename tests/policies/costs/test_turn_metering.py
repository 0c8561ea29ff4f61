"""Metering of real turns through the gateway: each model call is billed once in the ledger and shows in
`/v1/usage`; a hard budget then refuses new turns with 402 and lets them in again when raised."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform
from tests.e2e.sse import completed_for, events_of, read_frames


@pytest.fixture
def client(platform: Platform) -> Iterator[httpx.Client]:
    _tenant_id, key = create_test_tenant(platform.settings, "Metered")
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        yield c


def _turn(client: httpx.Client, conversation_id: str, text: str) -> dict:  # type: ignore[type-arg]
    accepted = client.post(f"/v1/conversations/{conversation_id}/messages", json={"content": text})
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["message_id"]
    frames = events_of(read_frames(client, conversation_id, completed_for(message_id)))
    [completed] = [
        f.data for f in frames if f.event == "message.completed" and (f.data or {}).get("reply_to") == message_id
    ]
    assert isinstance(completed, dict)
    return completed


def _post_until(client: httpx.Client, conversation_id: str, status: int) -> httpx.Response:
    """The budget mode is cached for a couple of seconds per gateway: wait for the change to show."""
    deadline = time.monotonic() + 15
    while True:
        response = client.post(f"/v1/conversations/{conversation_id}/messages", json={"content": "again"})
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def test_turns_are_billed_once_and_a_hard_budget_refuses_new_ones(client: httpx.Client) -> None:
    conversation_id = client.post("/v1/conversations", json={}).json()["id"]
    usages = [_turn(client, conversation_id, f"hello number {i}")["usage"] for i in range(3)]

    report = client.get("/v1/usage", params={"group_by": "agent"}).json()
    [group] = report["groups"]
    assert group["key"] == "support" and group["calls"] == 3
    assert group["prompt_tokens"] == sum(u["prompt_tokens"] for u in usages)
    assert group["completion_tokens"] == sum(u["completion_tokens"] for u in usages)
    spent = float(report["totals"]["cost_usd"])
    assert spent > 0 and report["reservations"]["count"] == 0

    # A hard limit below what is spent: new turns are refused with a clear 402, nothing else changes.
    assert client.put("/v1/budgets", json={"monthly_hard_usd": f"{spent / 2:.6f}"}).status_code == 200
    refused = _post_until(client, conversation_id, 402)
    assert refused.status_code == 402, refused.text
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert client.get("/v1/budgets").json()["mode"] == "blocked"
    assert client.get("/v1/usage", params={"group_by": "agent"}).json()["groups"][0]["calls"] == 3

    # Raised again: admitted again.
    assert client.put("/v1/budgets", json={"monthly_hard_usd": "100"}).status_code == 200
    assert _post_until(client, conversation_id, 202).status_code == 202
