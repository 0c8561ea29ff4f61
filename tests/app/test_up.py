"""`aiaas up` without the worker and gateway (the platform tests cover those): what it reports while it
starts, what it prints once up, and that nothing it started outlives it, however it ends."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.stack.ports import port_is_free
from tests.app.up_process import start_up, up_env
from tests.conftest import embedded_settings, uses_external_stack
from tests.core.stack_processes import GONE_WITHIN, assert_all_gone

pytestmark = pytest.mark.skipif(uses_external_stack(), reason="the stack under test is external")

STACK_ONLY = ("--no-gateway", "--no-worker")
PROGRESS = re.compile(r"^  (?P<part>[a-z]+) +(?P<what>.+)$")


def progress(lines: list[str]) -> dict[str, str]:
    """Each part's last progress line."""
    return {m["part"]: m["what"] for line in lines if (m := PROGRESS.match(line))}


def test_up_reports_each_part_prints_the_urls_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    up = start_up(tmp_path, *STACK_ONLY)
    assert up.stderr[0] == f"aiaas: starting temporal, postgres and redis (data in {tmp_path})"
    reported = progress(up.stderr)
    assert set(reported) == {"temporal", "postgres", "redis", "migrations"}
    for part in ("temporal", "postgres", "redis"):
        assert re.fullmatch(r"ready in \d+\.\d s", reported[part]), up.stderr
    assert re.fullmatch(r"applied in \d+\.\d s", reported["migrations"])
    assert re.fullmatch(r"aiaas is up after \d+\.\d s; press Ctrl-C to stop", up.stderr[-1])

    labels = [line.partition(": ")[0] for line in up.stdout]
    assert labels[:4] == ["temporal", "temporal ui", "postgres", "redis"]
    assert labels[-1] == "logs"
    password = (tmp_path / "postgres.password").read_text().strip()
    assert ":***@" in up.stdout[2] and password not in "\n".join(up.stdout + up.stderr)
    # What `aiaas status` reads: this `up`, without a gateway or worker.
    assert json.loads((tmp_path / "up.json").read_text()) == {
        "launcher_pid": up.process.pid,
        "gateway_url": None,
        "worker_metrics_url": None,
        "worker_metrics_urls": [],
        "gateway_processes": 0,
        "worker_roles": [],
    }
    children = up.children()
    assert {c.name() for c in children} >= {"temporal", "postgres", "redis-server"}

    os.killpg(up.process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    assert up.finish() == 0
    assert_all_gone(children)
    assert not (tmp_path / "stack.json").exists() and not (tmp_path / "up.json").exists()


def test_up_names_a_child_that_died_stops_the_rest_and_exits_1(tmp_path: Path) -> None:
    up = start_up(tmp_path, *STACK_ONLY)
    children = up.children()
    redis_pid = json.loads((tmp_path / "run" / "redis.pid").read_text())["pid"]
    os.kill(redis_pid, signal.SIGKILL)

    assert up.finish() == 1
    assert up.stderr[-1] == f"aiaas: redis was killed by SIGKILL; see {tmp_path / 'logs' / 'redis.log'}"
    assert_all_gone(children)


@pytest.mark.slow
def test_up_killed_with_sigkill_takes_everything_it_started_along(tmp_path: Path) -> None:
    up = start_up(tmp_path, *STACK_ONLY)
    children = up.children()
    assert len(children) > 3  # Temporal, Redis, the postmaster and its backends

    up.process.kill()  # no handler runs: nothing of `up` gets to stop anything
    assert up.finish() == -signal.SIGKILL
    assert_all_gone(children, within=GONE_WITHIN)
    assert [port for port in up.ports if not port_is_free("127.0.0.1", port)] == []


def test_a_part_that_fails_to_start_is_named_with_its_reason_and_log(tmp_path: Path) -> None:
    # An append-only file Redis cannot read: it refuses to start rather than lose data.
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "appendonly.aof").write_text("this is not an append-only file\n")
    env = up_env(embedded_settings(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "up", *STACK_ONLY], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert re.fullmatch(r"failed after \d+\.\d s", progress(lines)["redis"]), lines
    log = tmp_path / "logs" / "redis.log"
    failure = next(line for line in lines if line.startswith("aiaas: redis "))
    assert failure == f"aiaas: redis exited with code 1 while starting; last lines of {log}:"
    assert "Bad file format reading the append only file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "stack.json").exists()
