"""How `aiaas up` lays out its worker and gateway processes, and how it tells a gateway of its own listens."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest

from app.cli import main
from app.gateway import shared_socket
from app.up_apps import gateway_processes, listens_on, process_names, worker_processes
from core.stack.running import RunningApps


def test_one_process_keeps_its_plain_name_several_are_numbered() -> None:
    assert process_names("worker", 1) == ["worker"]
    assert process_names("gateway", 3) == ["gateway-1", "gateway-2", "gateway-3"]


def test_each_worker_gets_a_metrics_port_of_its_own_the_first_the_configured_one() -> None:
    workers = worker_processes(3, "127.0.0.1", 9101, {"PROMETHEUS_MULTIPROC_DIR": "/x", "KEEP": "1"})
    ports = [int(w.env["AIAAS_WORKER_METRICS_PORT"]) for w in workers]
    assert ports[0] == 9101 and len(set(ports)) == 3
    assert workers[0].ready_url == "http://127.0.0.1:9101/metrics"
    # Workers serve their own registry: the gateways' shared directory is not theirs.
    assert all("PROMETHEUS_MULTIPROC_DIR" not in w.env and w.env["KEEP"] == "1" for w in workers)


def test_split_roles_run_workflows_and_activities_processes_each_with_its_role_and_port() -> None:
    env = {"AIAAS_WORKER_ROLE": "workflows", "KEEP": "1"}
    (alone,) = worker_processes(1, "127.0.0.1", 9101, env)
    # The role is on the command line: a role left in the environment does not halve an `all` worker.
    assert alone.name == "worker" and alone.role == "all" and alone.argv[-3:] == ["worker", "--role", "all"]

    split = worker_processes(2, "127.0.0.1", 9101, env, roles="split", activity_count=3)
    assert [(w.name, w.role) for w in split] == [
        ("worker-workflows-1", "workflows"),
        ("worker-workflows-2", "workflows"),
        ("worker-activities-1", "activities"),
        ("worker-activities-2", "activities"),
        ("worker-activities-3", "activities"),
    ]
    assert all(w.argv[-2:] == ["--role", w.role] for w in split)
    ports = [w.env["AIAAS_WORKER_METRICS_PORT"] for w in split]
    assert ports[0] == "9101" and len(set(ports)) == 5

    names = [w.name for w in worker_processes(1, "127.0.0.1", 9101, {}, roles="split", activity_count=1)]
    assert names == ["worker-workflows", "worker-activities"]


def test_status_groups_the_workers_by_role_and_reads_an_older_file_as_all() -> None:
    split = RunningApps(1, None, "u1", ["u1", "u2", "u3"], 0, ["workflows", "activities", "activities"])
    assert split.workers_by_role() == {"workflows": ["u1"], "activities": ["u2", "u3"]}
    assert RunningApps(1, None, "u1", ["u1", "u2"]).workers_by_role() == {"all": ["u1", "u2"]}
    assert RunningApps(1, None, "u1").workers_by_role() == {"all": ["u1"]}
    assert RunningApps(1, None, None).workers_by_role() == {}


def test_activity_workers_without_split_roles_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AIAAS_UP_WORKER_ROLES", raising=False)
    assert main(["up", "--data-dir", str(tmp_path), "--activity-workers", "2"]) == 1
    assert "--activity-workers needs --worker-roles split" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_several_gateways_share_the_port_and_a_fresh_metrics_directory(tmp_path: Path) -> None:
    stale = tmp_path / "run" / "gateway-metrics" / "counter_1.db"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an earlier run")
    gateways = gateway_processes(2, "127.0.0.1", 8123, {}, tmp_path)
    assert [g.name for g in gateways] == ["gateway-1", "gateway-2"]
    assert all("--reuse-port" in g.argv and g.argv[g.argv.index("--port") + 1] == "8123" for g in gateways)
    shared = {g.env["PROMETHEUS_MULTIPROC_DIR"] for g in gateways}
    assert shared == {str(stale.parent)} and not stale.exists()

    (alone,) = gateway_processes(1, "127.0.0.1", 8123, {"PROMETHEUS_MULTIPROC_DIR": "/x"}, tmp_path)
    assert "--reuse-port" not in alone.argv and "PROMETHEUS_MULTIPROC_DIR" not in alone.env


def test_two_shared_sockets_bind_one_port_and_only_a_listening_one_counts() -> None:
    first = shared_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = shared_socket("127.0.0.1", port)
    try:
        me = psutil.Process().pid
        assert not listens_on(me, port)  # bound, not listening: the kernel hands it no connection yet
        first.listen()
        second.listen()
        assert listens_on(me, port)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        first.close()
        second.close()
    assert not listens_on(None, port)
