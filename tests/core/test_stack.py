"""The embedded stack, with real servers: what `aiaas up` and the test suite stand on."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import queue
import signal
import socket
import stat
import subprocess
import sys
import threading
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
from tests.conftest import ENDPOINT_VARIABLES, PORT_CLASH, embedded_settings, uses_external_stack

embedded_only = pytest.mark.skipif(uses_external_stack(), reason="the stack under test is external")


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
    """Every process the stack started, and everything those started (Postgres backends, for one)."""
    found: list[psutil.Process] = []
    for process in stack.processes:
        assert process.pid is not None
        parent = psutil.Process(process.pid)
        found += [parent, *parent.children(recursive=True)]
    return found


def assert_all_gone(processes: list[psutil.Process]) -> None:
    def running(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    assert [p for p in processes if running(p)] == []


async def test_temporal_answers_and_has_the_search_attributes(stack: StackEndpoints) -> None:
    client = await Client.connect(stack.temporal_address)
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert {name: listed.custom_attributes.get(name) for name in ("TenantId", "Channel", "Agent")} == {
        "TenantId": keyword,
        "Channel": keyword,
        "Agent": keyword,
    }


def test_postgres_is_16_with_pgvector(stack: StackEndpoints) -> None:
    url = stack.database_url
    assert 160000 <= int(str(sql(url, "SELECT current_setting('server_version_num')"))) < 170000
    assert sql(url, "SELECT current_database()") == "aiaas"
    assert sql(url, "SELECT extversion FROM pg_extension WHERE extname = 'vector'") is not None


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
    first = Stack(settings)
    endpoints = first.start()
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
    with Stack(settings) as second:
        assert second.endpoints is not None
        assert second.endpoints.database_url == endpoints.database_url  # same password, same cluster
        assert redis.Redis.from_url(second.endpoints.redis_url).get("survives") == b"yes"
        assert sql(second.endpoints.database_url, "SELECT v FROM kept") == "yes"
        started = descendants(second)
    assert_all_gone(started)


# A launcher that dies without stopping anything, as under SIGKILL: its children keep running.
CRASHING_LAUNCHER = """
import os
from core.settings import Settings
from core.stack import Stack
stack = Stack(Settings())
stack.start()
print(" ".join(str(p.pid) for p in stack.processes), flush=True)
os._exit(0)
"""


@embedded_only
def test_children_of_a_crashed_launcher_are_stopped_by_the_next_start(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path)
    launcher = [sys.executable, "-c", CRASHING_LAUNCHER]
    pids = subprocess.run(launcher, env=launcher_env(settings), check=True, capture_output=True, text=True).stdout
    orphans = [psutil.Process(int(pid)) for pid in pids.split()]
    assert len(orphans) == 3 and all(p.is_running() for p in orphans)

    with Stack(settings) as again:
        assert again.endpoints is not None
        assert redis.Redis.from_url(again.endpoints.redis_url).ping()
        assert_all_gone(orphans)


def start_up(data_dir: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """`aiaas up` without the gateway and worker (other suites cover those), and the lines it printed."""
    for attempt in range(3):
        up = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up", "--no-gateway", "--no-worker"],
            env=launcher_env(embedded_settings(data_dir)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Its own process group, like a command a terminal runs in the foreground.
            start_new_session=True,
        )
        printed = read_until_logs_line(up)
        if printed is not None:
            return up, printed
        assert up.stderr is not None
        error = up.stderr.read()
        if attempt == 2 or not PORT_CLASH.search(error):
            pytest.fail(f"aiaas up exited with {up.wait()}: {error}")
    raise AssertionError("unreachable")


def read_until_logs_line(up: subprocess.Popen[str]) -> list[str] | None:
    """The lines `up` prints once everything runs, or None when it exits first."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert up.stdout is not None
        for line in up.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    printed: list[str] = []
    while not printed or not printed[-1].startswith("logs:"):
        line = lines.get(timeout=60)
        if line is None:
            return None
        printed.append(line)
    return printed


def running_children(data_dir: Path, up: subprocess.Popen[str]) -> list[psutil.Process]:
    """`up` runs in another process; the pid files it keeps name its children, which must all be alive."""
    children = []
    for path in (data_dir / "run").glob("*.pid"):
        try:
            children.append(psutil.Process(json.loads(path.read_text())["pid"]))
        except psutil.NoSuchProcess:
            assert up.stderr is not None
            pytest.fail(f"{path.stem} died once up was ready; up exited {up.wait(60)}: {up.stderr.read()}")
    return children


@embedded_only
def test_up_prints_the_urls_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    up, printed = start_up(tmp_path)
    labels = [line.partition(": ")[0] for line in printed]
    assert labels[:4] == ["temporal", "temporal ui", "postgres", "redis"]
    password = (tmp_path / "postgres.password").read_text().strip()
    assert ":***@" in printed[2] and password not in "\n".join(printed)
    children = running_children(tmp_path, up)
    assert {c.name() for c in children} >= {"temporal", "postgres"}

    os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    assert up.wait(60) == 0
    assert_all_gone(children)
    assert not (tmp_path / "stack.json").exists()


@embedded_only
def test_up_names_a_child_that_died_stops_the_rest_and_exits_1(tmp_path: Path) -> None:
    up, _ = start_up(tmp_path)
    children = running_children(tmp_path, up)
    redis_pid = json.loads((tmp_path / "run" / "redis.pid").read_text())["pid"]
    os.kill(redis_pid, signal.SIGKILL)

    assert up.wait(60) == 1
    assert up.stderr is not None
    assert up.stderr.read().splitlines()[-1] == (
        f"aiaas: redis was killed by SIGKILL; see {tmp_path / 'logs' / 'redis.log'}"
    )
    assert_all_gone(children)
