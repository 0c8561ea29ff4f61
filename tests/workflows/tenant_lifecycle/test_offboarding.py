"""Offboarding end to end on the real platform: the admin API starts it, the worker runs it, and afterwards
the tenant's conversations are stopped, its data is in an archive, and nothing of it is left in Postgres or
Redis, while another tenant carries on untouched."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from temporalio.client import Client, WorkflowExecutionStatus

from contracts.conversation import conversation_workflow_id
from contracts.lifecycle import Stage, TenantLifecycleResult
from core.events import stream_key
from db.database import Database
from tenancy.audit import PLATFORM_CHAIN
from tenancy.audit_read import list_events
from tests.e2e.platform import Platform
from tests.workflows.tenant_lifecycle.clients import NewTenant
from workflows.tenant_lifecycle import TenantLifecycleWorkflow

RETENTION_SECONDS = 6
_TENANT_TABLES = """
    SELECT table_schema || '.' || table_name FROM information_schema.columns
    WHERE column_name = 'tenant_id' AND table_schema IN ('public', 'audit')
"""


def _answered_conversation(client: httpx.Client, content: str) -> str:
    conversation = client.post("/v1/conversations", json={}).json()["id"]
    assert client.post(f"/v1/conversations/{conversation}/messages", json={"content": content}).status_code == 202
    for _ in range(200):
        if len(client.get(f"/v1/conversations/{conversation}").json()["messages"]) == 2:
            return conversation
        time.sleep(0.05)
    raise AssertionError("the conversation was never answered")


def _rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


async def _rows_left(owner_database: Database, tenant_id: str) -> dict[str, int]:
    async with owner_database.engine.connect() as conn:
        tables = (await conn.execute(text(_TENANT_TABLES))).scalars().all()
        left = {
            table: await conn.scalar(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": tenant_id})  # noqa: S608
            for table in tables
        }
        left["public.tenants"] = await conn.scalar(text("SELECT count(*) FROM tenants WHERE id = :t"), {"t": tenant_id})
    return {table: n for table, n in left.items() if n}


async def _keys(redis: Redis, tenant_id: str) -> list[bytes]:
    return [key async for key in redis.scan_iter(match=f"*{tenant_id}*")]


async def test_offboarding_end_to_end(
    platform: Platform,
    admin: httpx.Client,
    owner: httpx.Client,
    new_tenant: NewTenant,
    api_b: httpx.Client,
    tenant_b: tuple[str, str],
    temporal: Client,
    owner_database: Database,
    redis: Redis,
) -> None:
    tid = new_tenant.id
    ours = _answered_conversation(owner, "where is my parcel 4711")
    theirs = _answered_conversation(api_b, "tenant b keeps talking")
    assert await redis.exists(stream_key(tid, ours)) == 1

    accepted = admin.post(f"/v1/admin/tenants/{tid}/offboard", json={"retention_seconds": RETENTION_SECONDS})
    assert accepted.status_code == 202, accepted.text
    handle = temporal.get_workflow_handle_for(TenantLifecycleWorkflow.run, accepted.json()["workflow_id"])
    assert owner.get("/v1/tenant").status_code == 401

    # While the retention period runs the archive exists, the rows are still there, and the admin sees progress.
    for _ in range(100):
        progress = await handle.query(TenantLifecycleWorkflow.progress)
        if progress.stage != Stage.STARTING and progress.export is not None:
            break
        await asyncio.sleep(0.1)
    assert progress.stage == Stage.RETAINING, progress
    detail = admin.get(f"/v1/admin/tenants/{tid}").json()
    assert detail["status"] == "offboarding" and detail["lifecycle"]["stage"] == "retaining"
    assert detail["lifecycle"]["workflows_stopped"] == 1
    assert "public.conversations" in await _rows_left(owner_database, tid)
    conversation_run = await temporal.get_workflow_handle(conversation_workflow_id(tid, ours)).describe()
    assert conversation_run.status == WorkflowExecutionStatus.TERMINATED

    result: TenantLifecycleResult = await handle.result()

    archive = Path(result.export.path)
    assert archive.is_relative_to(platform.data_dir / "exports" / tid)
    manifest = json.loads((archive / "manifest.json").read_text())
    assert manifest["rows"] == result.export.rows
    assert [row["id"] for row in _rows(archive / "public.conversations.jsonl.gz")] == [ours]
    messages = _rows(archive / "public.messages.jsonl.gz")
    assert {m["role"] for m in messages} == {"user", "assistant"} and all(m["tenant_id"] == tid for m in messages)
    assert any(m["content"] == "where is my parcel 4711" for m in messages)
    assert {e["action"] for e in _rows(archive / "audit.events.jsonl.gz")} >= {
        "tenant.created",
        "tenant.offboarding_started",
    }
    assert not (archive / "public.tenant_data_keys.jsonl.gz").exists()

    assert await _rows_left(owner_database, tid) == {}
    assert await _keys(redis, tid) == []
    assert result.purge.rows["public.messages"] == 2 and result.purge.rows["public.tenants"] == 1
    assert result.purge.redis_keys >= 1 and result.workflows_stopped == 1
    assert admin.get(f"/v1/admin/tenants/{tid}").status_code == 404
    async with owner_database.tenant_session(PLATFORM_CHAIN) as session:
        recorded = [
            e for e in await list_events(session, PLATFORM_CHAIN, action="tenant.purged", limit=200) if e.target == tid
        ]
    assert len(recorded) == 1 and recorded[0].details["rows"] == result.purge.rows

    # The other tenant: rows, stream, running conversation and audit chain as they were.
    assert len(api_b.get(f"/v1/conversations/{theirs}").json()["messages"]) == 2
    assert await redis.exists(stream_key(tenant_b[0], theirs)) == 1
    their_run = await temporal.get_workflow_handle(conversation_workflow_id(tenant_b[0], theirs)).describe()
    assert their_run.status == WorkflowExecutionStatus.RUNNING
    assert api_b.get("/v1/audit/verify").json()["ok"] is True
