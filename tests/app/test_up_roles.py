"""`aiaas up --worker-roles split`, run as a user runs it: workflows and activities workers as processes of
their own, each polling only its side of the task queue (as Temporal sees them), a turn through the gateway
answered by the two together, `aiaas status` checking each role, and every process stopped by one Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.app.up_process import UpRun, start_up
from tests.conftest import uses_external_stack
from tests.core.stack_processes import assert_all_gone

pytestmark = [
    pytest.mark.skipif(uses_external_stack(), reason="the stack under test is external"),
    pytest.mark.slow,
]
# One of each keeps the start light on a shared machine; `tests/app/test_up_apps.py` covers the counts.
WORKERS = {"worker-workflows": "workflows", "worker-activities": "activities"}
TURN_SECONDS = 60.0


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpRun]:
    running = start_up(
        tmp_path_factory.mktemp("up-split"),
        *("--worker-roles", "split", "--workers", "1", "--activity-workers", "1", "--gateway-workers", "1"),
        env_extra={"AIAAS_MODEL_SMALL": "scripted/echo", "AIAAS_MODEL_LARGE": "scripted/echo"},
    )
    yield running
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGINT)
        running.finish()


def _pid(up: UpRun, name: str) -> int:
    return int(json.loads((up.data_dir / "run" / f"{name}.pid").read_text())["pid"])


def test_each_worker_starts_with_its_role_and_a_metrics_endpoint_of_its_own(up: UpRun) -> None:
    assert "aiaas: starting worker-workflows, worker-activities and gateway" in up.stderr
    ready = {m[1] for line in up.stderr if (m := re.fullmatch(r"  ([a-z0-9-]+) +ready in \d+\.\d s", line))}
    assert set(WORKERS) <= ready, up.stderr
    printed = dict(line.split(": ", 1) for line in up.stdout)
    assert printed["worker roles"] == "1 workflows, 1 activities"
    assert printed["worker metrics"] == f"http://127.0.0.1:{up.worker_metrics_port}/metrics"
    urls = {printed["worker metrics"], printed["worker-activities metrics"]}
    assert len(urls) == 2 and all(httpx.get(url, timeout=10).status_code == 200 for url in urls)
    for name, role in WORKERS.items():
        argv = psutil.Process(_pid(up, name)).cmdline()
        assert argv[argv.index("worker") :] == ["worker", "--role", role], argv
    assert json.loads((up.data_dir / "up.json").read_text())["worker_roles"] == list(WORKERS.values())


async def _pollers(up: UpRun) -> dict[str, set[int]]:
    """The pids polling the platform's queue for workflow tasks and for activity tasks (identity `pid@host`)."""
    client = await Client.connect(f"127.0.0.1:{up.settings.temporal_port}")
    found: dict[str, set[int]] = {}
    for kind, queue_type in (
        ("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=up.settings.temporal_namespace,
                task_queue=TaskQueue(name=up.settings.task_queue),
                task_queue_type=queue_type,
            )
        )
        found[kind] = {int(poller.identity.split("@", 1)[0]) for poller in described.pollers}
    return found


def _turn(up: UpRun) -> str:
    created = subprocess.run(
        [sys.executable, "-m", "app.cli", "tenant", "create", "--name", "split roles", "--json"],
        env=up.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['api_key']}"}
    base = f"http://127.0.0.1:{up.settings.gateway_port}"
    with httpx.Client(base_url=base, headers=headers, timeout=TURN_SECONDS) as client:
        conversation = client.post("/v1/conversations", json={}).json()["id"]
        with client.stream("GET", f"/v1/conversations/{conversation}/events") as events:
            posted = client.post(
                f"/v1/conversations/{conversation}/messages", json={"content": "hello split", "client_message_id": "m1"}
            )
            assert posted.status_code == 202, posted.text
            for line in events.iter_lines():
                if line.startswith("data: ") and '"message.completed"' in line:
                    return line
    raise AssertionError("the event stream ended before the turn completed")


def test_a_turn_completes_with_workflows_and_activities_in_separate_processes(up: UpRun) -> None:
    completed = _turn(up)
    assert "hello split" in completed  # scripted/echo answers with the message

    pids = {name: _pid(up, name) for name in WORKERS}
    deadline = time.monotonic() + 30
    while True:
        pollers = asyncio.run(_pollers(up))
        workflows = {pids["worker-workflows"]}
        if workflows <= pollers["workflow"] and pids["worker-activities"] in pollers["activity"]:
            break
        assert time.monotonic() < deadline, (pids, pollers)
        time.sleep(1)
    # No process polls the side its role leaves to the other.
    assert pids["worker-activities"] not in pollers["workflow"]
    assert not workflows & pollers["activity"]


def test_status_checks_each_role_then_ctrl_c_stops_every_process(up: UpRun) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "status", "--json"], env=up.env, capture_output=True, text=True, timeout=60
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"] is True, done.stdout
    parts = {part["part"]: part for part in report["parts"]}
    assert "worker" not in parts
    assert parts["worker-workflows"]["state"] == parts["worker-activities"]["state"] == "up"
    assert parts["worker-workflows"]["detail"] == parts["worker-activities"]["detail"] == "metrics ok"

    children = up.children()
    assert {_pid(up, name) for name in WORKERS} <= {child.pid for child in children}
    os.killpg(up.process.pid, signal.SIGINT)
    assert up.finish() == 0
    assert_all_gone(children)
    assert not (up.data_dir / "up.json").exists()
