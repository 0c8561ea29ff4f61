"""Key rotation through the running platform: `KeyRotationWorkflow` re-encrypts a tenant's transcripts (thousands
of rows still in clear from before sealing, and sealed ones) while its worker is SIGKILLed mid-batch, resumes,
retires the old version and audits it; the conversation still reads whole. `POST /v1/keys/rotations` starts one
per tenant, refuses what it must, and no tenant sees or starts another's."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from contracts.key_rotation import KeyRotationInput, KeyRotationProgress, rotation_workflow_id
from contracts.names import ACT_KEYS_RESEAL, WF_KEY_ROTATION
from db.codec import connect
from tests.e2e.agent_world import Shop, conversation, execute, fresh_shop, rows, turn
from tests.e2e.platform import Platform

_STARTED = 2  # PENDING_ACTIVITY_STATE_STARTED
LEGACY_ROWS = 3000


@dataclass(frozen=True)
class World:
    shop: Shop
    other: Shop
    conversation_id: str
    progress: KeyRotationProgress
    reseal_attempts: int


async def _rotate_with_a_kill(platform: Platform, tenant_id: str) -> tuple[KeyRotationProgress, int]:
    client = await connect(platform.settings)
    handle = await client.start_workflow(
        WF_KEY_ROTATION,
        # No settle wait: nothing else writes this tenant's rows while the test runs.
        KeyRotationInput(tenant_id=tenant_id, actor="test", settle_seconds=0, batch_size=25),
        id=rotation_workflow_id(tenant_id),
        task_queue=platform.settings.task_queue,
        result_type=KeyRotationProgress,
    )
    deadline = time.monotonic() + 60
    while True:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(a.activity_type.name == ACT_KEYS_RESEAL and a.heartbeat_details.payloads for a in pending):
            break
        assert time.monotonic() < deadline, "the re-encryption never heartbeated"
        await asyncio.sleep(0.05)
    platform.kill_worker()
    platform.start_worker()
    progress = await asyncio.wait_for(handle.result(), timeout=120)
    history = await handle.fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and scheduled[e.activity_task_started_event_attributes.scheduled_event_id] == ACT_KEYS_RESEAL
    ]
    return progress, max(attempts)


@pytest.fixture(scope="module")
def world(platform: Platform) -> Iterator[World]:
    with fresh_shop(platform, "Rotation") as shop, fresh_shop(platform, "Rotation other") as other:
        chat = conversation(shop.api, "support")
        turn(shop.api, chat, "Hello, my card is 4539 1488 0343 6467")
        execute(
            platform.settings,
            shop.tenant_id,
            "INSERT INTO messages (id, tenant_id, conversation_id, role, content)"
            " SELECT gen_random_uuid()::text, :t, :c, 'user', 'legacy orchid ' || g FROM generate_series(1, :n) g",
            t=shop.tenant_id,
            c=chat,
            n=LEGACY_ROWS,
        )
        progress, attempts = asyncio.run(_rotate_with_a_kill(platform, shop.tenant_id))
        yield World(shop, other, chat, progress, attempts)


def _stats(world: World, platform: Platform) -> dict[str, Any]:
    [stats] = rows(
        platform.settings,
        world.shop.tenant_id,
        "SELECT count(*) AS total, count(*) FILTER (WHERE content <> '' OR content_sealed IS NULL) AS clear,"
        " count(DISTINCT key_version) AS versions, max(key_version) AS version FROM messages",
    )
    return stats


def test_the_rotation_survives_a_worker_killed_mid_batch_and_leaves_nothing_in_clear(
    world: World, platform: Platform
) -> None:
    assert world.reseal_attempts >= 2
    stats = _stats(world, platform)
    assert stats["clear"] == 0 and stats["versions"] == 1 and stats["version"] == world.progress.target_version
    assert world.progress.phase == "completed"
    assert world.progress.retired_versions == list(range(1, world.progress.target_version))
    # Counted across the killed attempt from its heartbeat details (a server that drops them on a timeout
    # leaves the rows the dead attempt did uncounted, never counted twice).
    assert 0 < world.progress.messages <= stats["total"] and stats["total"] >= LEGACY_ROWS + 2


def test_the_conversation_reads_whole_after_rotation(world: World) -> None:
    response = world.shop.api.get(f"/v1/conversations/{world.conversation_id}")
    assert response.status_code == 200, response.text
    contents = [m["content"] for m in response.json()["messages"]]
    assert contents[0] == "Hello, my card is 4539 1488 0343 6467" and "legacy orchid 1" in contents


def test_the_rotation_is_reported_and_audited(world: World, platform: Platform) -> None:
    report = world.shop.api.get("/v1/keys/rotation")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["status"] == "completed" and body["progress"]["target_version"] == world.progress.target_version
    audited = rows(
        platform.settings, world.shop.tenant_id, "SELECT action FROM audit.events WHERE action = 'keys.rotated'"
    )
    assert len(audited) == 1


def test_another_tenant_sees_none_and_starts_only_its_own(world: World) -> None:
    assert world.other.api.get("/v1/keys/rotation").status_code == 404
    started = world.other.api.post("/v1/keys/rotations", json={})
    assert started.status_code == 202, started.text
    assert started.json()["workflow_id"] == rotation_workflow_id(world.other.tenant_id)
    again = world.other.api.post("/v1/keys/rotations", json={})
    assert again.status_code == 200 and again.json()["status"] == "running"
    # The first tenant's last rotation is untouched by the other's.
    assert world.shop.api.get("/v1/keys/rotation").json()["status"] == "completed"


def test_bad_or_unauthorised_requests_are_clear_4xx(world: World, platform: Platform) -> None:
    api = world.shop.api
    for body in (
        {"batch_size": 0},
        {"batch_size": 100_000},
        {"tenant_id": world.other.tenant_id},
        {"new_version": "x"},
    ):
        response = api.post("/v1/keys/rotations", json=body)
        assert response.status_code == 422, (body, response.text)
        assert "error" in response.json()
    created = api.post("/v1/api-keys", json={"name": f"viewer-{uuid.uuid4().hex[:6]}", "role": "viewer"})
    assert created.status_code == 201, created.text
    with world.shop.client(created.json()["api_key"]) as viewer:
        assert viewer.post("/v1/keys/rotations", json={}).status_code == 403
        assert viewer.get("/v1/keys/rotation").status_code == 200
    with world.shop.client("aiaas_not_a_key") as stranger:
        assert stranger.get("/v1/keys/rotation").status_code == 401
