"""`aiaas up` run as a user runs it: a process of its own, read on both streams while it runs."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from core.settings import Settings
from core.stack.ports import free_port
from tests.conftest import ENDPOINT_VARIABLES, PORT_CLASH, embedded_settings

READY_SECONDS = 240.0  # a first start on a busy machine, with the worker and gateway


def up_env(settings: Settings, worker_metrics_port: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARIABLES and not k.startswith("AIAAS_")}
    env.update(
        AIAAS_DATA_DIR=str(settings.data_dir),
        AIAAS_TEMPORAL_PORT=str(settings.temporal_port),
        AIAAS_TEMPORAL_UI_PORT=str(settings.temporal_ui_port),
        AIAAS_POSTGRES_PORT=str(settings.postgres_port),
        AIAAS_REDIS_PORT=str(settings.redis_port),
        AIAAS_GATEWAY_PORT=str(settings.gateway_port),
    )
    if worker_metrics_port is not None:
        env["AIAAS_WORKER_METRICS_PORT"] = str(worker_metrics_port)
    return env


@dataclass
class UpRun:
    process: subprocess.Popen[str]
    settings: Settings
    env: dict[str, str]
    worker_metrics_port: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _lines: queue.Queue[tuple[str, str | None]] = field(default_factory=queue.Queue)

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    @property
    def ports(self) -> list[int]:
        s = self.settings
        return [s.temporal_port, s.temporal_ui_port, s.postgres_port, s.redis_port]

    def read(self) -> None:
        for name in ("stdout", "stderr"):
            threading.Thread(target=self._pump, args=(name,), daemon=True).start()

    def _pump(self, name: str) -> None:
        stream = getattr(self.process, name)
        for line in stream:
            self._lines.put((name, line.rstrip("\n")))
        self._lines.put((name, None))

    def wait_until_up(self) -> bool:
        """True once `up` says it is up and its summary has been read whole; False when it exits first.

        The summary on stdout is written (and flushed) before the "is up" line on stderr, but the two streams
        are read by two threads, so either can reach the queue first: wait for both, the summary's last line
        (`logs: ...`) closing it."""
        ended = 0
        said_up = summary_read = False
        while ended < 2:
            name, line = self._lines.get(timeout=READY_SECONDS)
            if line is None:
                ended += 1
                continue
            getattr(self, name).append(line)
            said_up = said_up or (name == "stderr" and line.startswith("aiaas is up after"))
            summary_read = summary_read or (name == "stdout" and line.startswith("logs: "))
            if said_up and summary_read:
                return True
        return False

    def finish(self, timeout: float = 60.0) -> int:
        """Wait for the exit, then collect what is left on both streams."""
        code = self.process.wait(timeout)
        while True:
            try:
                name, line = self._lines.get(timeout=5)
            except queue.Empty:
                return code
            if line is not None:
                getattr(self, name).append(line)

    def children(self) -> list[psutil.Process]:
        """What `up` started, from the pid files it keeps, with everything those started."""
        found: list[psutil.Process] = []
        for path in sorted((self.data_dir / "run").glob("*.pid")):
            child = psutil.Process(json.loads(path.read_text())["pid"])
            try:
                found += [child, *child.children(recursive=True)]
            except psutil.NoSuchProcess:
                # A short-lived grandchild (a Postgres backend) ended while the tree was read.
                found.append(child)
        return found


def start_up(data_dir: Path, *flags: str, env_extra: dict[str, str] | None = None) -> UpRun:
    """`aiaas up` on free ports; new ports when one was taken meanwhile by another suite's servers."""
    for attempt in range(3):
        settings = embedded_settings(data_dir)
        metrics_port = free_port()
        env = {**up_env(settings, metrics_port), **(env_extra or {})}
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up", *flags],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Its own process group, like a command a terminal runs in the foreground.
            start_new_session=True,
        )
        run = UpRun(process, settings, env, metrics_port)
        run.read()
        if run.wait_until_up():
            return run
        code = run.finish()
        error = "\n".join(run.stderr)
        if attempt == 2 or not PORT_CLASH.search(error):
            pytest.fail(f"aiaas up exited with {code}: {error}")
    raise AssertionError("unreachable")
