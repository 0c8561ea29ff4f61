"""The embedded stack, with real servers: what `aiaas up` and the test suite stand on. Its parts answer,
and a start that cannot succeed says why in one line; restarts, stops and crashes: `test_stack_lifecycle.py`."""

from __future__ import annotations

import dataclasses
import signal
import socket
import sqlite3
import stat
import sys
from pathlib import Path

import pytest
import redis
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from core.settings import Settings
from core.stack import ManagedProcess, Stack, StackEndpoints
from tests.conftest import embedded_settings
from tests.core.stack_processes import embedded_only, sql


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
