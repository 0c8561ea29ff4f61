"""The embedded stack, with real servers: what `aiaas up` and the test suite stand on."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from core.settings import Settings
from core.stack import ManagedProcess, Stack, StackEndpoints
from core.stack.ports import port_is_free
from core.stack.postgres import EmbeddedPostgres
from core.stack.process import run_as_ids
from core.stack.progress import Progress
from tests.conftest import ENDPOINT_VARIABLES, embedded_settings, uses_external_stack

embedded_only = pytest.mark.skipif(uses_external_stack(), reason="the stack under test is external")
READY_LINE = re.compile(r"^  (temporal|postgres|redis) +ready in \d+\.\d s$")
# A child's graceful shutdown once its launcher is gone: Postgres' fast shutdown, Temporal's and Redis' own.
GONE_WITHIN = 30.0


def sql(url: str, statement: str) -> object:
    # These tests are sync, so there is no running loop to share.
    async def run() -> object:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(statement) if statement.startswith("SELECT") else await conn.execute(statement)
        finally:
            await conn.close()

    return asyncio.run(run())


def launcher_env(settings: Settings) -> dict[str, str]:
    """The environment for a launcher in another process to start an embedded stack like `settings`'s."""
    env = {name: value for name, value in os.environ.items() if name not in ENDPOINT_VARIABLES}
    env.update(
        AIAAS_DATA_DIR=str(settings.data_dir),
        AIAAS_TEMPORAL_PORT=str(settings.temporal_port),
        AIAAS_TEMPORAL_UI_PORT=str(settings.temporal_ui_port),
        AIAAS_POSTGRES_PORT=str(settings.postgres_port),
        AIAAS_REDIS_PORT=str(settings.redis_port),
    )
    return env


def descendants(stack: Stack) -> list[psutil.Process]:
    """Every process the stack started, and everything those started."""
    return with_descendants([process.pid for process in stack.processes if process.pid is not None])


def running(process: psutil.Process) -> bool:
    # Orphans are reaped by whoever adopts them, which may take its time; a zombie holds nothing.
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_all_gone(processes: list[psutil.Process], within: float = 0.0) -> None:
    deadline = time.monotonic() + within
    while any(running(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p for p in processes if running(p)] == []


def with_descendants(pids: list[int]) -> list[psutil.Process]:
    """The processes, and everything they started (Postgres backends, for one)."""
    found: list[psutil.Process] = []
    for pid in pids:
        parent = psutil.Process(pid)
        found += [parent, *parent.children(recursive=True)]
    return found


async def test_temporal_answers_and_has_the_search_attributes(stack: StackEndpoints) -> None:
    client = await Client.connect(stack.temporal_address)
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert {name: listed.custom_attributes.get(name) for name in ("TenantId", "Channel", "Agent")} == {
        "TenantId": keyword,
        "Channel": keyword,
        "Agent": keyword,
    }


@embedded_only
def test_temporal_writes_its_sqlite_file_through_a_write_ahead_log(stack: StackEndpoints, stack_dir: Path) -> None:
    # A rollback journal synced at every commit made the dev server's one connection a queue of fsyncs: a
    # flood's starts held back every other tenant's task dispatch (docs/architecture.md, "Fairness").
    database = stack_dir / "temporal" / "temporal.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"
    assert database.with_name("temporal.db-wal").exists()


def test_postgres_is_18_with_pgvector_0_8(stack: StackEndpoints) -> None:
    url = stack.database_url
    assert 180000 <= int(str(sql(url, "SELECT current_setting('server_version_num')"))) < 190000
    assert sql(url, "SELECT current_database()") == "aiaas"
    # 0.8 brings iterative index scans, which knowledge search needs to stay complete under tenant filters.
    version = str(sql(url, "SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
    assert tuple(int(part) for part in version.split(".")[:2]) >= (0, 8)


def test_redis_answers(stack: StackEndpoints) -> None:
    assert redis.Redis.from_url(stack.redis_url).ping()


def test_stack_file_names_the_endpoints(stack: StackEndpoints, settings: Settings) -> None:
    stack_file = settings.data_dir / "stack.json"
    assert StackEndpoints.from_json(stack_file.read_text()) == stack
    # It holds the superuser password.
    assert stat.S_IMODE(stack_file.stat().st_mode) == 0o600
    found = Settings(data_dir=settings.data_dir).model_copy(
        update={"temporal_address": None, "database_url": None, "redis_url": None}
    )
    assert found.with_stack_endpoints().database_url == stack.database_url


def test_a_child_that_dies_while_starting_shows_its_last_log_lines(tmp_path: Path) -> None:
    child = ManagedProcess("broken", ["sh", "-c", "echo cannot bind; exit 3"], data_dir=tmp_path)
    child.start()
    with pytest.raises(RuntimeError) as raised:
        child.wait_ready(lambda: False, timeout=10)
    summary, *log_lines = str(raised.value).splitlines()
    assert summary == f"broken exited with code 3 while starting; last lines of {tmp_path / 'logs' / 'broken.log'}:"
    assert log_lines == ["    cannot bind"]
    assert child.stop() == 3
    assert not child.pid_path.exists()


def test_a_child_not_ready_in_time_is_reported_then_stopped(tmp_path: Path) -> None:
    child = ManagedProcess("slow", ["sleep", "60"], data_dir=tmp_path, stop_timeout=5)
    child.start()
    with pytest.raises(RuntimeError, match=r"^slow was not ready after 1s; see "):
        child.wait_ready(lambda: False, timeout=1)
    assert child.stop() == -signal.SIGTERM
    assert not child.alive


def test_set_endpoints_are_connected_to_not_started(stack: StackEndpoints, tmp_path: Path) -> None:
    connecting = Settings(data_dir=tmp_path).model_copy(update=dataclasses.asdict(stack))
    with Stack(connecting) as running:
        assert running.processes == []
        assert running.endpoints == stack
    assert redis.Redis.from_url(stack.redis_url).ping()


def test_an_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings = embedded_settings(tmp_path, redis_url=f"redis://127.0.0.1:{closed_port}/0")
    with pytest.raises(RuntimeError, match=r"^Redis at redis://127\.0\.0\.1:\d+/0 \(REDIS_URL\) does not answer"):
        Stack(settings).start()


def test_a_taken_port_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = Stack(embedded_settings(tmp_path, temporal_port=port))
        with pytest.raises(RuntimeError) as raised:
            stack.start()
    assert str(raised.value) == (
        f"port {port} (Temporal) on 127.0.0.1 is taken; set AIAAS_TEMPORAL_PORT or TEMPORAL_ADDRESS"
    )
    assert stack.processes == []
    assert not (tmp_path / "stack.json").exists()


def test_a_missing_binary_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "nowhere" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"^Temporal CLI not found .*set TEMPORAL_ADDRESS$"):
        Stack(embedded_settings(tmp_path)).start()


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
