"""Worker roles: a workflows-role worker and an activities-role worker on one queue serve a conversation turn
as one worker of the default role does, and the workflows role never imports the model or tool libraries.

Real processes on the session stack: a gateway, `aiaas worker --role workflows` and `aiaas worker --role
activities` on a queue of their own, so no other worker of the suite can take their tasks.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from core.stack.process import ManagedProcess
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import apply_migrations, pick_port, platform_env
from tests.e2e.sse import completed_for, events_of, read_frames

# Imported by the model call, the tool connectors, PII detection and search; none belongs in a workflows worker.
HEAVY = ("litellm", "openai", "tiktoken", "onnxruntime", "spacy", "presidio_analyzer", "llama_cpp")

# `aiaas worker ARGS`, writing on exit the heavy packages it imported (one a line) to the file in argv[1].
_REPORTING_WORKER = (
    "import sys\n"
    "from app.cli import main\n"
    "code = main(sys.argv[2:])\n"
    f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
    "open(sys.argv[1], 'w').write('\\n'.join(heavy))\n"
    "sys.exit(code)\n"
)


@dataclass
class SplitPlatform:
    base_url: str
    api_key: str
    workflows: ManagedProcess
    activities: ManagedProcess
    imported: Path


def _worker(name: str, role: str, data_dir: Path, env: dict[str, str], imported: Path) -> tuple[ManagedProcess, str]:
    """The worker and its metrics URL, which answers once the worker is built and about to poll."""
    port = pick_port()
    argv = [sys.executable, "-c", _REPORTING_WORKER, str(imported), "worker", "--role", role]
    process = ManagedProcess(name, argv, data_dir=data_dir, env={**env, "AIAAS_WORKER_METRICS_PORT": str(port)})
    return process, f"http://127.0.0.1:{port}/metrics"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _send(api: httpx.Client, conversation_id: str, content: str) -> str:
    """Posts a message and returns its id; a busy machine may not confirm it in time (503), and the client id
    makes the documented retry safe."""
    body = {"content": content, "client_message_id": str(uuid.uuid4())}
    for _ in range(3):
        sent = api.post(f"/v1/conversations/{conversation_id}/messages", json=body)
        if sent.status_code != 503:
            break
    assert sent.status_code == 202, sent.text
    return str(sent.json()["message_id"])


@pytest.fixture(scope="module")
def split(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitPlatform]:
    apply_migrations(settings)
    data_dir = tmp_path_factory.mktemp("roles")
    queue = f"roles-{uuid.uuid4().hex[:8]}"
    test_settings = settings.model_copy(update={"task_queue": queue, "data_dir": data_dir})
    env = platform_env(test_settings, data_dir)
    port = pick_port()
    gateway = ManagedProcess(
        "roles-gateway",
        [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        data_dir=data_dir,
        env=env,
    )
    imported = tmp_path_factory.mktemp("imported")
    workflows, workflows_metrics = _worker("roles-workflows", "workflows", data_dir, env, imported / "workflows.txt")
    activities, activities_metrics = _worker(
        "roles-activities", "activities", data_dir, env, imported / "activities.txt"
    )
    started = [workflows, activities, gateway]
    try:
        for process in started:
            process.start()
        base_url = f"http://127.0.0.1:{port}"
        gateway.wait_ready(lambda: _answers(f"{base_url}/healthz"), timeout=180)
        workflows.wait_ready(lambda: _answers(workflows_metrics), timeout=180)
        activities.wait_ready(lambda: _answers(activities_metrics), timeout=180)
        _, api_key = create_test_tenant(test_settings, "Roles")
        yield SplitPlatform(base_url, api_key, workflows, activities, imported)
    finally:
        for process in reversed(started):
            process.stop()


def test_a_turn_is_served_by_a_workflows_worker_and_an_activities_worker(split: SplitPlatform) -> None:
    headers = {"Authorization": f"Bearer {split.api_key}"}
    with httpx.Client(base_url=split.base_url, headers=headers, timeout=30.0) as api:
        conversation_id = api.post("/v1/conversations", json={}).json()["id"]
        for content in ("hello", "and again"):
            message_id = _send(api, conversation_id, content)
            frames = events_of(read_frames(api, conversation_id, completed_for(message_id), timeout=120))
            completed = [f for f in frames if f.event == "message.completed"]
            assert completed[-1].data is not None
            assert completed[-1].data["content"] == f"echo: {content}"
        detail = api.get(f"/v1/conversations/{conversation_id}").json()
        assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user", "assistant"]
    assert split.workflows.alive and split.activities.alive
    # Stopped gracefully, each worker reports what it imported over its whole life, turns included: the
    # activities worker ran the model call through litellm, the workflows worker never imported it.
    split.workflows.stop()
    split.activities.stop()
    assert split.workflows.returncode == split.activities.returncode == 0
    assert (split.imported / "workflows.txt").read_text() == ""
    assert "litellm" in (split.imported / "activities.txt").read_text().split()
