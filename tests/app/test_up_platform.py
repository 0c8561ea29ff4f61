"""The whole platform from one `aiaas up` with two workers and two gateways: every process reported as it gets
ready, both gateways serving the one port and counted by one `/metrics`, `aiaas status` reading it, and
nothing left running (nor any port held) once `up` is killed with SIGKILL."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.stack.ports import port_is_free
from tests.app.up_process import UpRun, start_up
from tests.conftest import uses_external_stack
from tests.core.stack_processes import GONE_WITHIN, assert_all_gone

pytestmark = [
    pytest.mark.skipif(uses_external_stack(), reason="the stack under test is external"),
    pytest.mark.slow,
]
PARTS = ("temporal", "postgres", "redis", "gateway", "worker")
PROCESSES = ("temporal", "postgres", "redis", "gateway-1", "gateway-2", "worker-1", "worker-2")


def status(up: UpRun) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "status", "--json"], env=up.env, capture_output=True, text=True, timeout=60
    )
    assert done.stderr == ""
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpRun]:
    running = start_up(tmp_path_factory.mktemp("up"), "--workers", "2", "--gateway-workers", "2")
    yield running
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGINT)
        running.finish()


def test_every_part_is_reported_when_ready(up: UpRun) -> None:
    assert up.stderr[0] == f"aiaas: starting temporal, postgres and redis (data in {up.data_dir})"
    assert "aiaas: starting worker-1, worker-2, gateway-1 and gateway-2" in up.stderr
    ready = {m[1] for line in up.stderr if (m := re.fullmatch(r"  ([a-z0-9-]+) +(ready|applied) in \d+\.\d s", line))}
    assert ready == {*PROCESSES, "migrations"}, up.stderr
    printed = dict(line.split(": ", 1) for line in up.stdout)
    assert printed["gateway"] == f"http://127.0.0.1:{up.settings.gateway_port}"
    assert printed["gateway processes"] == "2"
    assert printed["worker metrics"] == f"http://127.0.0.1:{up.worker_metrics_port}/metrics"
    assert printed["worker-2 metrics"] != printed["worker metrics"]
    assert httpx.get(printed["worker-2 metrics"], timeout=10).status_code == 200


def _healthz_count(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "aiaas_http_requests_total" and sample.labels.get("route") == "/healthz"
    )


def test_both_gateways_serve_the_port_and_one_scrape_counts_them_all(up: UpRun) -> None:
    url = f"http://127.0.0.1:{up.settings.gateway_port}"
    before = _healthz_count(httpx.get(f"{url}/metrics", timeout=10).text)
    # A new connection each: the kernel spreads connections, not requests, over the listening processes.
    for _ in range(40):
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    text = httpx.get(f"{url}/metrics", timeout=10).text
    assert _healthz_count(text) - before == 40
    gateway_pids = {json.loads((up.data_dir / "run" / f"gateway-{i}.pid").read_text())["pid"] for i in (1, 2)}
    # Each process writes its counters to a file named after its pid: both have served requests.
    counters = {path.stem.rpartition("_")[2] for path in (up.data_dir / "run" / "gateway-metrics").glob("counter_*")}
    assert {str(pid) for pid in gateway_pids} <= counters


def test_status_sees_every_part_up(up: UpRun) -> None:
    code, report = status(up)
    assert code == 0 and report["ok"] is True
    assert report["up"] == f"running (pid {up.process.pid})"
    parts = {part["part"]: part for part in report["parts"]}  # type: ignore[attr-defined]
    assert {name: part["state"] for name, part in parts.items()} == dict.fromkeys(PARTS, "up")
    assert parts["worker"]["detail"] == "metrics ok (2 processes)"
    assert parts["gateway"]["where"] == f"http://127.0.0.1:{up.settings.gateway_port}"
    assert ":***@" in parts["postgres"]["where"]


def test_sigkill_takes_everything_along_and_status_says_so(up: UpRun) -> None:
    children = up.children()
    names = {child.name() for child in children}
    assert {"temporal", "postgres", "redis-server"} <= names and len(children) > 8
    pid_files = {path.stem for path in (up.data_dir / "run").glob("*.pid")}
    assert {"worker-1", "worker-2", "gateway-1", "gateway-2"} <= pid_files
    worker_ports = [
        int(url.rsplit(":", 1)[1].split("/")[0])
        for url in json.loads((up.data_dir / "up.json").read_text())["worker_metrics_urls"]
    ]

    up.process.kill()
    assert up.finish() == -signal.SIGKILL
    assert_all_gone(children, within=GONE_WITHIN)
    ports = [*up.ports, up.settings.gateway_port, *worker_ports]
    assert [port for port in ports if not port_is_free("127.0.0.1", port)] == []

    # `up` had no chance to remove its files: status finds them, and finds nothing answering.
    code, report = status(up)
    assert code == 1 and report["ok"] is False
    assert report["up"] == f"gone (pid {up.process.pid})"
    assert {part["state"] for part in report["parts"]} == {"down"}  # type: ignore[attr-defined]
