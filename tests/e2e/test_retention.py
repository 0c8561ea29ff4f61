"""Retention through the running platform: `/v1/retention` (validated, audited, owners only, one tenant's
policy never another's) and `RetentionWorkflow` deleting what is past it in bounded batches, for the tenant
with a policy only, from Postgres and from the conversations' Redis streams."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from redis import Redis

from contracts.names import WF_RETENTION
from contracts.privacy import RetentionInput, RetentionResult
from core.events import stream_key
from db.codec import connect
from tests.api.helpers import client, error, fresh_tenant
from tests.e2e.agent_world import execute, rows
from tests.e2e.platform import Platform

EMPTY = {"transcripts_days": None, "events_days": None, "tool_results_days": None, "documents_days": None}
DAY_MS = 86_400_000


def test_a_policy_is_validated_kept_and_audited(platform: Platform) -> None:
    with fresh_tenant(platform, "Retention") as (_tenant_id, owner):
        assert {k: v for k, v in owner.get("/v1/retention").json().items() if k != "updated_at"} == EMPTY
        put = owner.put("/v1/retention", json={"transcripts_days": 30, "events_days": 7})
        assert put.status_code == 200, put.text
        assert put.json()["transcripts_days"] == 30 and put.json()["tool_results_days"] is None
        assert owner.get("/v1/retention").json()["events_days"] == 7
        audited = owner.get("/v1/audit", params={"action": "retention.updated"}).json()["items"]
        assert audited[0]["details"]["transcripts_days"] == 30
        for body in (
            {"transcripts_days": 0},
            {"events_days": 3651},
            {"documents_days": "30"},
            {"documents_days": 1.5},
            {"forever": True},
        ):
            error(owner.put("/v1/retention", json=body), 422)
        viewer_key = owner.post("/v1/api-keys", json={"name": "viewer", "role": "viewer"}).json()["api_key"]
        with client(platform, viewer_key) as viewer:
            assert viewer.get("/v1/retention").status_code == 200
            error(viewer.put("/v1/retention", json={}), 403, "forbidden")
            error(viewer.post(f"/v1/customers/{uuid.uuid4()}/erasure"), 403, "forbidden")
        # PUT replaces whole: what is left out is kept forever again.
        assert owner.put("/v1/retention", json={"documents_days": 90}).json()["transcripts_days"] is None


def test_one_tenants_policy_is_never_anothers(platform: Platform) -> None:
    with fresh_tenant(platform, "Retention A") as (_a, owner_a), fresh_tenant(platform, "Retention B") as (_b, owner_b):
        assert owner_a.put("/v1/retention", json={"transcripts_days": 5}).status_code == 200
        assert owner_b.get("/v1/retention").json()["transcripts_days"] is None
        assert owner_b.put("/v1/retention", json={"transcripts_days": 9}).status_code == 200
        assert owner_a.get("/v1/retention").json()["transcripts_days"] == 5


_COLLECTION = (
    "INSERT INTO knowledge_collections (tenant_id, id, name, embedding_model, embedding_dim) "
    "VALUES (:t, :k, :k, 'm', 3)"
)
_MESSAGE = (
    "INSERT INTO messages (id, tenant_id, conversation_id, role, content, created_at) "
    "VALUES (:id, :t, :c, 'user', 'hello', now() - make_interval(days => :days))"
)
_TOOL_CALL = (
    "INSERT INTO tool_calls (tenant_id, message_id, call_id, conversation_id, tool, status, output, updated_at) "
    "VALUES (:t, :id, 'c', :c, 'orders.lookup', 'ok', '{}', now() - make_interval(days => :days))"
)
_DOCUMENT = (
    "INSERT INTO knowledge_documents (tenant_id, id, collection_id, filename, media_type, size_bytes, "
    "content_sha256, created_at) VALUES (:t, :id, :c, 'f.txt', 'text/plain', 1, :sha, "
    "now() - make_interval(days => :days))"
)


def _seed(platform: Platform, tenant_id: str) -> str:
    """A conversation with 5 messages, 3 tool calls and a document from four days ago, and 2, 1, 1 of today;
    its event stream with 3 entries of four days ago and 2 of now."""
    conversation, collection = str(uuid.uuid4()), str(uuid.uuid4())
    settings = platform.settings
    conversations = "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:c, :t, 'support', 'web')"
    execute(settings, tenant_id, conversations, c=conversation, t=tenant_id)
    execute(settings, tenant_id, _COLLECTION, t=tenant_id, k=collection)
    for days, messages, calls in ((4, 5, 3), (0, 2, 1)):
        for sql, n, parent in ((_MESSAGE, messages, conversation), (_TOOL_CALL, calls, conversation)):
            for _ in range(n):
                execute(settings, tenant_id, sql, id=str(uuid.uuid4()), t=tenant_id, c=parent, days=days)
        sha = uuid.uuid4().hex * 2
        execute(settings, tenant_id, _DOCUMENT, id=str(uuid.uuid4()), t=tenant_id, c=collection, sha=sha, days=days)
    redis = Redis.from_url(settings.redis_url or "")
    try:
        old = int(time.time() * 1000) - 4 * DAY_MS
        key = stream_key(tenant_id, conversation)
        for i in range(3):
            redis.xadd(key, {"type": "old"}, id=f"{old}-{i}")
        for _ in range(2):
            redis.xadd(key, {"type": "new"})
    finally:
        redis.close()
    return conversation


def _left(platform: Platform, tenant_id: str, conversation: str) -> dict[str, Any]:
    counts = rows(
        platform.settings,
        tenant_id,
        "SELECT (SELECT count(*) FROM messages WHERE conversation_id = :c) AS messages, "
        "(SELECT count(*) FROM tool_calls WHERE conversation_id = :c) AS tool_calls, "
        "(SELECT count(*) FROM knowledge_documents) AS documents",
        c=conversation,
    )[0]
    redis = Redis.from_url(platform.settings.redis_url or "")
    try:
        counts["events"] = redis.xlen(stream_key(tenant_id, conversation))
    finally:
        redis.close()
    return counts


def test_the_retention_workflow_deletes_only_what_is_past_the_tenants_policy(platform: Platform) -> None:
    with fresh_tenant(platform, "Retained") as (kept_id, owner), fresh_tenant(platform, "Forever") as (forever_id, _):
        policy = {"transcripts_days": 1, "events_days": 1, "tool_results_days": 1, "documents_days": 1}
        assert owner.put("/v1/retention", json=policy).status_code == 200
        kept, forever = _seed(platform, kept_id), _seed(platform, forever_id)

        async def run() -> RetentionResult:
            temporal = await connect(platform.settings)
            # Batches of two, one batch per call: five old messages take three calls of the activity.
            return await temporal.execute_workflow(
                WF_RETENTION,
                RetentionInput(batch_size=2, batches_per_call=1),
                id=f"platform:privacy:retention:test-{uuid.uuid4().hex[:8]}",
                task_queue=platform.settings.task_queue,
                result_type=RetentionResult,
            )

        result = asyncio.run(run())
        assert not result.failed
        assert result.deleted["public.messages"] >= 5 and result.deleted["public.knowledge_documents"] >= 1
        assert _left(platform, kept_id, kept) == {"messages": 2, "tool_calls": 1, "documents": 1, "events": 2}
        assert _left(platform, forever_id, forever) == {"messages": 7, "tool_calls": 4, "documents": 2, "events": 5}


def test_an_anonymous_caller_is_refused(platform: Platform) -> None:
    with httpx.Client(base_url=platform.base_url, timeout=10) as anonymous:
        assert anonymous.get("/v1/retention").status_code == 401
