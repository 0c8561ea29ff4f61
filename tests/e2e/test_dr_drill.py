"""A disaster-recovery drill on the session stack while conversations are under way: the backup, the restore
into a scratch stack and every check pass, the scratch stack leaves nothing running, and no conversation
loses a message.

The drill runs on a worker of its own in this process (its own task queue and data dir), pointed at the
session's Temporal database file; the conversations run on the platform's processes as usual.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from activities.dr_drill import OPERATIONS_STREAM, PLATFORM
from app.worker import build_worker
from contracts.dr import DR_WORKFLOW_ID_PREFIX, DrDrillInput, DrDrillReport
from contracts.events import EventType
from contracts.names import WF_DR_DRILL
from core.events import Event, EventBus
from tests.e2e.platform import Platform

CONVERSATIONS = 4


def _answered(api: httpx.Client, conversation_id: str) -> list[str]:
    messages = api.get(f"/v1/conversations/{conversation_id}").json()["messages"]
    return [m["role"] for m in messages]


def _chatter(api: httpx.Client, ids: list[str], stop: threading.Event, sent: dict[str, int]) -> None:
    """Keep every conversation busy: a new message as soon as the last one is answered."""
    while not stop.is_set():
        for conversation_id in ids:
            if len(_answered(api, conversation_id)) == 2 * sent[conversation_id]:
                sent[conversation_id] += 1
                _send(api, conversation_id, sent[conversation_id])
        time.sleep(0.05)


def _send(api: httpx.Client, conversation_id: str, n: int) -> None:
    """As a careful client does: with its own message id, sent again while the platform cannot confirm it."""
    body = {"content": f"m{n}", "client_message_id": f"{conversation_id}-{n}"}
    for _ in range(10):
        reply = api.post(f"/v1/conversations/{conversation_id}/messages", json=body)
        if reply.status_code != 503:
            break
    assert reply.status_code == 202, reply.text


async def _drill(platform: Platform, stack_dir: Path, data_dir: Path) -> tuple[DrDrillReport, Path]:
    settings = platform.settings.model_copy(
        update={
            "task_queue": f"dr-{uuid.uuid4().hex[:8]}",
            "data_dir": data_dir,
            "dr_temporal_db": stack_dir / "temporal" / "temporal.db",
        }
    )
    async with build_worker(settings) as deps, deps.worker:
        report: DrDrillReport = await deps.client.execute_workflow(
            WF_DR_DRILL,
            DrDrillInput(max_histories=500),
            id=f"{DR_WORKFLOW_ID_PREFIX}-test-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
            result_type=DrDrillReport,
        )
    return report, data_dir / "dr"


async def _operations(platform: Platform) -> list[Event]:
    redis = Redis.from_url(platform.settings.redis_url or "")
    try:
        return await EventBus(redis).history(PLATFORM, OPERATIONS_STREAM)
    finally:
        await redis.aclose()


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_drill_during_conversations_verifies_and_loses_none(
    platform: Platform, api: httpx.Client, stack_dir: Path
) -> None:
    # Not under pytest's tmp root: every pytest session on the machine sets it back to 0700, and the Postgres
    # user must traverse the path whenever one of its tools starts.
    with tempfile.TemporaryDirectory(prefix="aiaas-dr-test-") as root:
        _drill_and_check(platform, api, stack_dir, Path(root))


def _drill_and_check(platform: Platform, api: httpx.Client, stack_dir: Path, tmp_path: Path) -> None:
    ids = [api.post("/v1/conversations", json={}).json()["id"] for _ in range(CONVERSATIONS)]
    sent = dict.fromkeys(ids, 0)
    stop = threading.Event()
    chatter = threading.Thread(target=_chatter, args=(api, ids, stop, sent), daemon=True)
    chatter.start()
    # Under way before the drill starts: every conversation has a message in flight or answered.
    deadline = time.monotonic() + 60
    while min(sent.values()) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert min(sent.values()) >= 1, sent
    try:
        report, folder = asyncio.run(_drill(platform, stack_dir, tmp_path))
    finally:
        stop.set()
        chatter.join(timeout=30)
    print(
        f"\nDR drill: RTO {report.rto_seconds:.1f} s, RPO {report.rpo_seconds} s, backup {report.backup_seconds:.1f} s"
    )

    assert report.verified, report.model_dump_json(indent=2)
    assert report.mismatches == [] and report.problems == [] and report.replay_failures == []
    assert report.rpo_seconds is not None and 0 <= report.rpo_seconds <= 60
    assert report.tenants >= 1 and report.rows > 0 and report.audit_chains >= 1
    assert report.histories_replayed > 0 and report.redis_keys > 0
    # Torn down: no scratch process alive, no scratch port answering, no copies left behind.
    assert report.scratch_pids and report.scratch_ports
    for pid in report.scratch_pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), pid
    assert not any(_port_open(port) for port in report.scratch_ports)
    assert [p.name for p in folder.iterdir()] == ["reports"]
    assert (folder / "reports" / f"{report.drill_id}.json").is_file()
    assert REGISTRY.get_sample_value("aiaas_dr_drill_verified") == 1
    assert REGISTRY.get_sample_value("aiaas_dr_drill_rpo_seconds") == report.rpo_seconds
    announced = [e.type for e in asyncio.run(_operations(platform)) if e.data.get("drill_id") == report.drill_id]
    assert announced == [EventType.DR_DRILL_FINISHED]

    deadline = time.monotonic() + 60
    while any(len(_answered(api, c)) != 2 * sent[c] for c in ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for conversation_id in ids:
        assert _answered(api, conversation_id) == ["user", "assistant"] * sent[conversation_id]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
