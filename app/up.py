"""`aiaas up`: the whole platform on one machine - the stack, migrations, the workers and the gateways.

The workers run every workflow and activity each, or split by role (`app/up_apps.py`); the command line is
`app/cli_up.py`. Everything it starts is its child and is stopped by it: Ctrl-C or SIGTERM stops the
gateways, the workers, then Redis, Postgres and Temporal, and exits 0; a child that dies on its own stops the
rest and exits 1; and if `up` itself is killed, its children die with it (`core/stack/spawn.py`). While it
starts it reports each part on stderr as it gets ready, with its time; stdout gets the summary of what runs
where (`app/up_summary.py`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import TYPE_CHECKING

from app.up_apps import AppProcess, default_count, gateway_processes, listens_on, worker_processes
from app.up_summary import summary_lines
from core.stack.ports import ensure_port_free, free_port
from core.stack.process import ManagedProcess, ReadyCheck, StartCancelled
from core.stack.progress import Progress, describe
from core.stack.running import RunningApps, remove_running_apps, write_running_apps

if TYPE_CHECKING:
    from core.settings import Settings
    from core.stack.stack import StackEndpoints

GATEWAY_READY_TIMEOUT = 120.0
# The worker serves its metrics once it has connected to Temporal, Postgres and Redis, just before it polls.
WORKER_READY_TIMEOUT = 120.0
WATCH_INTERVAL = 0.5


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _answers(url: str) -> bool:
    import httpx

    return httpx.get(url, timeout=2.0).status_code == 200


def _listening_and_answers(process: ManagedProcess, port: int, url: str) -> bool:
    return listens_on(process.pid, port) and _answers(url)


def _smtp_answers(host: str, port: int) -> bool:
    """The SMTP receiver is ready once it greets."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as conn:
            return conn.recv(3) == b"220"
    except OSError:
        return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def describe_exit(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited unexpectedly with code {returncode}"


class Up:
    def __init__(self, settings: Settings, *, gateway: bool = True, worker: bool = True) -> None:
        # Imported here so that building the `aiaas` parser does not load the Temporal and database clients.
        from core.stack.stack import Stack

        self.settings = settings
        self.progress = Progress(_say)
        self.stack = Stack(settings, self.progress)
        self.with_gateway = gateway
        self.with_worker = worker
        self.children: list[ManagedProcess] = []
        # The worker's own metrics endpoint: the configured port, or one picked for this run.
        self.worker_metrics_port = (settings.worker_metrics_port or free_port(settings.host)) if worker else 0
        self.worker_count = settings.workers or default_count()
        # Split roles only: the activities processes beside the `worker_count` workflows ones.
        split = settings.up_worker_roles == "split"
        self.activity_count = (settings.activity_workers or default_count()) if split else 0
        self.gateway_count = settings.gateway_workers or default_count()
        self.workers: list[AppProcess] = []
        # The development SMTP receiver's port; 0: not started.
        self.smtp_port = 0

    @property
    def gateway_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.gateway_port}"

    @property
    def worker_metrics_url(self) -> str:
        return f"http://{self.settings.host}:{self.worker_metrics_port}/metrics"

    def run(self) -> int:
        if self.with_gateway:
            ensure_port_free(
                self.settings.host, self.settings.gateway_port, "gateway", "use --port or set AIAAS_GATEWAY_PORT"
            )
        if self.with_worker:
            ensure_port_free(
                self.settings.host, self.worker_metrics_port, "worker metrics", "set AIAAS_WORKER_METRICS_PORT"
            )
        previous_term = signal.signal(signal.SIGTERM, _interrupt)
        # A shell starts background jobs with SIGINT ignored, and Python then leaves it ignored; `up` must
        # stop on SIGINT however it was launched.
        previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
        started = time.monotonic()
        try:
            _say(f"aiaas: starting {describe(['temporal', 'postgres', 'redis'])} (data in {self.stack.data_dir})")
            endpoints = self.stack.start()
            with self.progress.timing("migrations", "applied"):
                self._migrate(endpoints)
            self._start_apps(endpoints)
            self._print_urls(endpoints)
            _say(f"aiaas is up after {time.monotonic() - started:.1f} s; press Ctrl-C to stop")
            self._watch()
        except KeyboardInterrupt:
            return 0
        finally:
            # A second Ctrl-C must not cut the shutdown short and leave children behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                self._stop()
            finally:
                signal.signal(signal.SIGINT, previous_int)
                signal.signal(signal.SIGTERM, previous_term)
        return 0  # unreachable: _watch only returns by raising

    def _migrate(self, endpoints: StackEndpoints) -> None:
        import asyncio

        from db.migrate_regions import migrate_all

        try:
            # One database per configured region in the same embedded server, each migrated (db/regions.py).
            asyncio.run(migrate_all(self.settings.model_copy(update={"database_url": endpoints.database_url})))
        except RuntimeError:
            raise
        except Exception as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RuntimeError(f"database migrations failed: {detail}") from exc

    def _app_env(self, endpoints: StackEndpoints) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            TEMPORAL_ADDRESS=endpoints.temporal_address,
            DATABASE_URL=endpoints.database_url,
            REDIS_URL=endpoints.redis_url,
            AIAAS_DATA_DIR=str(self.stack.data_dir),
            # Logs go to files; unbuffered output keeps them current for `tail -f` and for error reports.
            PYTHONUNBUFFERED="1",
        )
        if endpoints.temporal_ui_url:
            env["AIAAS_TEMPORAL_UI_URL"] = endpoints.temporal_ui_url
        return env

    def _start_apps(self, endpoints: StackEndpoints) -> None:
        env = self._app_env(endpoints)
        data_dir = self.stack.data_dir
        host, port = self.settings.host, self.settings.gateway_port
        waits: list[tuple[ManagedProcess, ReadyCheck, float]] = []

        def add(app: AppProcess, timeout: float, *, own_socket: bool = False) -> None:
            process = ManagedProcess(app.name, app.argv, data_dir=data_dir, env=app.env)
            check = functools.partial(_answers, app.ready_url)
            if own_socket:
                # The shared port answers as soon as one gateway does: each must be listening itself.
                check = functools.partial(_listening_and_answers, process, port, app.ready_url)
            waits.append((process, check, timeout))

        if self.with_worker:
            self.workers = worker_processes(
                self.worker_count,
                host,
                self.worker_metrics_port,
                env,
                roles=self.settings.up_worker_roles,
                activity_count=self.activity_count,
            )
            for app in self.workers:
                add(app, WORKER_READY_TIMEOUT)
        if self.with_gateway:
            for app in gateway_processes(self.gateway_count, host, port, env, data_dir):
                add(app, GATEWAY_READY_TIMEOUT, own_socket=self.gateway_count > 1)
        if self.smtp_port:
            argv = [sys.executable, "-m", "app.cli", "smtp", "--host", host, "--port", str(self.smtp_port)]
            smtp = ManagedProcess("smtp", argv, data_dir=data_dir, env=env)
            waits.append((smtp, functools.partial(_smtp_answers, host, self.smtp_port), GATEWAY_READY_TIMEOUT))
        if waits:
            _say(f"aiaas: starting {describe([process.name for process, _, _ in waits])}")
            for process, _, _ in waits:
                process.start()
                self.children.append(process)
            self._wait_ready(waits)
        write_running_apps(
            data_dir,
            RunningApps(
                launcher_pid=os.getpid(),
                gateway_url=self.gateway_url if self.with_gateway else None,
                worker_metrics_url=self.worker_metrics_url if self.with_worker else None,
                worker_metrics_urls=[app.ready_url for app in self.workers],
                gateway_processes=self.gateway_count if self.with_gateway else 0,
                worker_roles=[app.role for app in self.workers],
            ),
        )

    def _wait_ready(self, waits: list[tuple[ManagedProcess, ReadyCheck, float]]) -> None:
        """Wait for all at once, so each is reported when it is ready; the first failure stops the others."""
        cancel = threading.Event()

        def wait_for(process: ManagedProcess, check: ReadyCheck, timeout: float) -> None:
            with self.progress.timing(process.name):
                process.wait_ready(check, timeout=timeout, cancel=cancel)

        with ThreadPoolExecutor(max_workers=len(waits), thread_name_prefix="up-wait") as pool:
            futures = [pool.submit(wait_for, *wait) for wait in waits]
            try:
                concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
            finally:
                # Ctrl-C, or a failure: leaving the pool waits for the other threads, which now give up.
                if not all(f.done() and f.exception() is None for f in futures):
                    cancel.set()
        errors = [error for f in futures if (error := f.exception()) is not None]
        if errors:
            raise next((e for e in errors if not isinstance(e, StartCancelled)), errors[0])

    def _print_urls(self, endpoints: StackEndpoints) -> None:
        lines = summary_lines(
            self.settings,
            endpoints,
            gateway_count=self.gateway_count if self.with_gateway else 0,
            workers=self.workers,
            smtp_port=self.smtp_port,
        )
        lines.append(f"logs: {self.stack.data_dir / 'logs'}")
        print("\n".join(lines), flush=True)

    def _watch(self) -> None:
        watched = self.stack.processes + self.children
        while True:
            for process in watched:
                if not process.alive:
                    raise RuntimeError(f"{process.name} {describe_exit(process.returncode)}; see {process.log_path}")
            time.sleep(WATCH_INTERVAL)

    def _stop(self) -> None:
        _say("aiaas: stopping")
        remove_running_apps(self.stack.data_dir)
        for child in reversed(self.children):
            child.stop()
        self.children = []
        self.stack.stop()
