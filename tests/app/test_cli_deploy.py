"""`aiaas deploy status|ramp|promote|rollback` against the session's real Temporal dev server, with two
versions of a worker deployment polling (a thread of their own, as worker processes would be)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkerDeploymentConfig

from app.cli import main
from core.settings import Settings, get_settings


@workflow.defn(name="deploy-cli-probe", versioning_behavior=VersioningBehavior.PINNED)
class Probe:
    @workflow.run
    async def run(self) -> str:
        return "ok"


@pytest.fixture
def deployment(settings: Settings, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A deployment of its own with versions `a` and `b` polling, named by AIAAS_DEPLOYMENT_NAME."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TEMPORAL_ADDRESS", settings.temporal_address or "")
    monkeypatch.setenv("AIAAS_TEMPORAL_NAMESPACE", settings.temporal_namespace)
    monkeypatch.setenv("AIAAS_DEPLOYMENT_NAME", name)
    monkeypatch.setenv("AIAAS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    ready, stop = threading.Event(), threading.Event()

    async def poll() -> None:
        client = await Client.connect(settings.temporal_address or "", namespace=settings.temporal_namespace)
        workers = [
            Worker(
                client,
                task_queue=name,
                workflows=[Probe],
                workflow_runner=UnsandboxedWorkflowRunner(),
                deployment_config=WorkerDeploymentConfig(
                    version=WorkerDeploymentVersion(deployment_name=name, build_id=build_id),
                    use_worker_versioning=True,
                ),
            )
            for build_id in ("a", "b")
        ]
        async with workers[0], workers[1]:
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.1)

    thread = threading.Thread(target=asyncio.run, args=(poll(),), daemon=True)
    thread.start()
    assert ready.wait(60)
    try:
        yield name
    finally:
        stop.set()
        thread.join(30)
        get_settings.cache_clear()


def deploy(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["deploy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def status(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code, out, _ = deploy(capsys, "status", "--json")
    assert code == 0
    return dict(json.loads(out))


def set_first_current(capsys: pytest.CaptureFixture[str]) -> None:
    # A version can be routed to once the server has seen it poll; the first call may come before that.
    for _ in range(120):
        if deploy(capsys, "promote", "a")[0] == 0:
            return
        threading.Event().wait(0.25)
    raise AssertionError("version a never became current")


def test_ramp_promote_and_rollback(deployment: str, capsys: pytest.CaptureFixture[str]) -> None:
    set_first_current(capsys)
    assert status(capsys)["current"] == "a"

    code, out, _ = deploy(capsys, "ramp", "b", "25")
    assert code == 0
    assert "ramping  b (25% of new runs)" in out
    now = status(capsys)
    assert (now["current"], now["ramping"], now["ramping_percentage"]) == ("a", "b", 25.0)

    # A rollback during a ramp stops the ramp; the current version keeps every new run.
    code, out, _ = deploy(capsys, "rollback")
    assert code == 0
    now = status(capsys)
    assert (now["current"], now["ramping"]) == ("a", None)

    assert deploy(capsys, "ramp", "b", "50")[0] == 0
    code, out, _ = deploy(capsys, "promote")
    assert code == 0
    assert "current  b" in out
    now = status(capsys)
    assert (now["current"], now["ramping"]) == ("b", None)
    versions = {v["build_id"]: v["status"] for v in now["versions"]}  # type: ignore[attr-defined]
    assert versions["b"] == "current"
    assert versions["a"] in ("draining", "drained", "inactive")

    # Without a ramp, rollback returns to the version that was current before.
    code, out, _ = deploy(capsys, "rollback")
    assert code == 0
    assert status(capsys)["current"] == "a"


def test_refusals_are_one_line(deployment: str, capsys: pytest.CaptureFixture[str]) -> None:
    set_first_current(capsys)
    code, _, err = deploy(capsys, "promote")
    assert code == 1
    assert err == f"aiaas: deployment {deployment} has no ramping version to promote; name a build id\n"
    code, _, err = deploy(capsys, "ramp", "b", "150")
    assert code == 1
    assert err == "aiaas: a ramp is a percentage between 0 and 100\n"
    code, _, err = deploy(capsys, "promote", "never-deployed")
    assert code == 1
    assert err.startswith(f"aiaas: deployment {deployment}: ")
    assert status(capsys)["current"] == "a"


def test_status_of_an_unknown_deployment_is_one_line(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", settings.temporal_address or "")
    get_settings.cache_clear()
    code, _, err = deploy(capsys, "status", "--deployment", f"none-{uuid.uuid4().hex[:6]}")
    assert code == 1
    assert err.startswith("aiaas: deployment none-") and err.count("\n") == 1
