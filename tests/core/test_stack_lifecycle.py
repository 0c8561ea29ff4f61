"""The embedded stack's life: a restart keeps its data, a stop leaves nothing running, children of a crashed
launcher die with it, a server left running on the cluster is stopped by the next start, and a child runs as
if started directly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import redis

from core.stack import ManagedProcess, Stack
from core.stack.ports import port_is_free
from core.stack.postgres import EmbeddedPostgres
from core.stack.process import run_as_ids
from core.stack.progress import Progress
from tests.conftest import embedded_settings
from tests.core.stack_processes import (
    GONE_WITHIN,
    READY_LINE,
    assert_all_gone,
    descendants,
    embedded_only,
    launcher_env,
    running,
    sql,
    with_descendants,
)


@embedded_only
@pytest.mark.usefixtures("stack")
def test_restart_keeps_data_and_stop_leaves_nothing_running(tmp_path: Path, stack_dir: Path) -> None:
    settings = embedded_settings(tmp_path)
    reported: list[str] = []
    first = Stack(settings, Progress(reported.append))
    endpoints = first.start()
    # Each part says when it is ready and how long it took; the cluster is created once, and says so.
    assert reported[0] == "  postgres    creating the database cluster (first start only)"
    assert sorted(line.split()[0] for line in reported[1:]) == ["postgres", "redis", "temporal"]
    assert all(READY_LINE.match(line) for line in reported[1:]), reported
    redis.Redis.from_url(endpoints.redis_url).set("survives", "yes")
    sql(endpoints.database_url, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('yes')")
    started = descendants(first)
    first.stop()
    assert_all_gone(started)
    assert not (tmp_path / "stack.json").exists()

    # A crash leaves postmaster.pid behind, and its pid may by now belong to another live process of the
    # same user - here the session stack's Postgres - which Postgres alone would take for a running server.
    other_postgres = json.loads((stack_dir / "run" / "postgres.pid").read_text())["pid"]
    (tmp_path / "postgres" / "postmaster.pid").write_text(f"{other_postgres}\n{tmp_path / 'postgres'}\n")
    reported.clear()
    with Stack(settings, Progress(reported.append)) as second:
        assert len(reported) == 3 and all(READY_LINE.match(line) for line in reported), reported
        assert second.endpoints is not None
        assert second.endpoints.database_url == endpoints.database_url  # same password, same cluster
        assert redis.Redis.from_url(second.endpoints.redis_url).get("survives") == b"yes"
        assert sql(second.endpoints.database_url, "SELECT v FROM kept") == "yes"
        started = descendants(second)
    assert_all_gone(started)


# A launcher that dies without stopping anything, as under SIGKILL, once told to.
CRASHING_LAUNCHER = """
import os, sys
from core.settings import Settings
from core.stack import Stack
stack = Stack(Settings())
stack.start()
print(" ".join(str(p.pid) for p in stack.processes), flush=True)
sys.stdin.readline()
os._exit(0)
"""


@embedded_only
def test_children_of_a_crashed_launcher_die_with_it_and_free_their_ports(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path)
    launcher = subprocess.Popen(
        [sys.executable, "-c", CRASHING_LAUNCHER],
        env=launcher_env(settings),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdin is not None and launcher.stdout is not None
    started = [int(pid) for pid in launcher.stdout.readline().split()]
    children = with_descendants(started)
    # Postgres has its backends; a short-lived one (a readiness check's connection) may end meanwhile.
    assert len(children) > 3 and all(running(p) for p in children if p.pid in started)

    launcher.stdin.close()
    assert launcher.wait(30) == 0
    assert_all_gone(children, within=GONE_WITHIN)
    ports = [settings.temporal_port, settings.temporal_ui_port, settings.postgres_port, settings.redis_port]
    assert [port for port in ports if not port_is_free("127.0.0.1", port)] == []
    with Stack(settings) as again:
        assert again.endpoints is not None
        assert redis.Redis.from_url(again.endpoints.redis_url).ping()


@embedded_only
def test_a_postgres_left_running_on_the_cluster_is_stopped_by_the_next_start(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path)
    with Stack(settings):
        pass  # the cluster exists from here on
    server = EmbeddedPostgres(data_dir=tmp_path, host="127.0.0.1", port=settings.postgres_port)
    server.preflight()
    assert server.process is not None
    argv = server.process.argv
    argv[argv.index("-k") + 1] = ""  # TCP only: the socket directory went with the first stack
    uid, gid, groups = run_as_ids(server.run_as)
    # Started the way pg_ctl starts one: from a shell that exits at once, so that nobody owns it.
    shell = ["sh", "-c", 'exec "$@" >/dev/null 2>&1 &', "sh", *argv]
    subprocess.run(shell, cwd=tmp_path, user=uid, group=gid, extra_groups=groups, check=True)
    deadline = time.monotonic() + 30
    while port_is_free("127.0.0.1", settings.postgres_port):
        assert time.monotonic() < deadline, "the left-over server never listened"
        time.sleep(0.2)
    left_over = psutil.Process(int((tmp_path / "postgres" / "postmaster.pid").read_text().split()[0]))

    reported: list[str] = []
    with Stack(settings, Progress(reported.append)) as again:
        assert again.endpoints is not None
        assert sql(again.endpoints.database_url, "SELECT 1") == 1
        assert not running(left_over)
    assert f"  postgres    stopping a server left running on this cluster (pid {left_over.pid})" in reported


def test_a_child_runs_as_if_started_directly(tmp_path: Path) -> None:
    # It goes through a wrapper that arranges its death with the launcher; nothing of that may show.
    probe = 'echo "lc_ctype=${LC_CTYPE-unset}"; grep SigIgn /proc/$$/status; exec sleep 30'
    env = {k: v for k, v in os.environ.items() if k not in ("LC_CTYPE", "LC_ALL", "LANG")}
    child = ManagedProcess("probe", ["sh", "-c", probe], data_dir=tmp_path, env=env, stop_timeout=5)
    child.start()
    try:
        child.wait_ready(lambda: len(child.tail()) >= 2, timeout=10)
        assert child.pid is not None
        assert psutil.Process(child.pid).cmdline() == ["sleep", "30"]
        lc_ctype, ignored = child.tail()
        assert lc_ctype == "lc_ctype=unset"  # the wrapper's interpreter sets it for itself (PEP 538)
        assert int(ignored.split()[1], 16) & (1 << (signal.SIGPIPE - 1)) == 0
    finally:
        child.stop()
