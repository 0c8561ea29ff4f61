"""The whole platform from one `aiaas up`: every part reported as it gets ready, `aiaas status` reading it,
and nothing left running (nor any port held) once `up` is killed with SIGKILL."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from core.stack.ports import port_is_free
from tests.app.up_process import UpRun, start_up
from tests.conftest import uses_external_stack
from tests.core.test_stack import GONE_WITHIN, assert_all_gone

pytestmark = [
    pytest.mark.skipif(uses_external_stack(), reason="the stack under test is external"),
    pytest.mark.slow,
]
PARTS = ("temporal", "postgres", "redis", "gateway", "worker")


def status(up: UpRun) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "status", "--json"], env=up.env, capture_output=True, text=True, timeout=60
    )
    assert done.stderr == ""
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpRun]:
    running = start_up(tmp_path_factory.mktemp("up"))
    yield running
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGINT)
        running.finish()


def test_every_part_is_reported_when_ready(up: UpRun) -> None:
    assert up.stderr[0] == f"aiaas: starting temporal, postgres and redis (data in {up.data_dir})"
    assert "aiaas: starting worker and gateway" in up.stderr
    ready = {m[1] for line in up.stderr if (m := re.fullmatch(r"  ([a-z]+) +(ready|applied) in \d+\.\d s", line))}
    assert ready == {*PARTS, "migrations"}, up.stderr
    printed = dict(line.split(": ", 1) for line in up.stdout)
    assert printed["gateway"] == f"http://127.0.0.1:{up.settings.gateway_port}"
    assert printed["worker metrics"] == f"http://127.0.0.1:{up.worker_metrics_port}/metrics"


def test_status_sees_every_part_up(up: UpRun) -> None:
    code, report = status(up)
    assert code == 0 and report["ok"] is True
    assert report["up"] == f"running (pid {up.process.pid})"
    parts = {part["part"]: part for part in report["parts"]}  # type: ignore[attr-defined]
    assert {name: part["state"] for name, part in parts.items()} == dict.fromkeys(PARTS, "up")
    assert parts["gateway"]["where"] == f"http://127.0.0.1:{up.settings.gateway_port}"
    assert ":***@" in parts["postgres"]["where"]


def test_sigkill_takes_everything_along_and_status_says_so(up: UpRun) -> None:
    children = up.children()
    names = {child.name() for child in children}
    assert {"temporal", "postgres", "redis-server"} <= names and len(children) > 5

    up.process.kill()
    assert up.finish() == -signal.SIGKILL
    assert_all_gone(children, within=GONE_WITHIN)
    ports = [*up.ports, up.settings.gateway_port, up.worker_metrics_port]
    assert [port for port in ports if not port_is_free("127.0.0.1", port)] == []

    # `up` had no chance to remove its files: status finds them, and finds nothing answering.
    code, report = status(up)
    assert code == 1 and report["ok"] is False
    assert report["up"] == f"gone (pid {up.process.pid})"
    assert {part["state"] for part in report["parts"]} == {"down"}  # type: ignore[attr-defined]
