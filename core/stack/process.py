"""One child process of the embedded stack: started, waited on until ready, stopped, never leaked.

Each child writes to `<data_dir>/logs/<name>.log` and is recorded in `<data_dir>/run/<name>.pid` together with
the launcher's pid. Children run in their own process group, so a Ctrl-C in the terminal reaches only the
launcher, which then stops them in order. A launcher that dies without stopping them (SIGKILL, a crash) takes
them along: on Linux each gets its stop signal from the kernel when the launcher goes (`spawn.py`). Where
that is not available, the pid file is how the next start finds and stops such orphans.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil  # a dependency of pgserver, so always present with the stack's wheels

from core.stack.spawn import spawn

ReadyCheck = Callable[[], bool]


class StartCancelled(RuntimeError):
    """A start given up because another part of the stack failed or the user interrupted it."""


def run_as_ids(user: str | None) -> tuple[int | None, int | None, list[int] | None]:
    """uid, gid and supplementary groups for `subprocess` to run as `user`; all None to stay as we are.

    The empty group list drops root's supplementary groups along with its uid.
    """
    if user is None:
        return None, None, None
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid, []


def _create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _same_process(pid: int, create_time: float) -> bool:
    # Comparing start times too keeps a recycled pid from being mistaken for the process we started.
    found = _create_time(pid)
    return found is not None and abs(found - create_time) < 0.01


def wait_gone(pid: int, timeout: float) -> bool:
    # Not our child, so it cannot be waited for; an orphan's new parent may also be slow to reap it, and a
    # zombie holds nothing (ports, files), so it counts as gone.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.argv = [str(part) for part in argv]
        self.env = dict(env) if env is not None else None
        self.user = user
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.log_path = data_dir / "logs" / f"{name}.log"
        self.pid_path = data_dir / "run" / f"{name}.pid"
        self.started_at: float | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.reap_orphan()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        uid, gid, groups = run_as_ids(self.user)
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {' '.join(self.argv)}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            try:
                # The stop signal is also what it gets if the launcher dies: each part's graceful shutdown.
                self._popen = spawn(
                    self.argv,
                    death_signal=self.stop_signal,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    process_group=0,
                    uid=uid,
                    gid=gid,
                    groups=groups,
                )
            except OSError as exc:
                raise RuntimeError(f"cannot start {self.name} ({self.argv[0]}): {exc.strerror or exc}") from exc
        self.started_at = time.monotonic()
        self._write_pid_file()

    def wait_ready(
        self,
        check: ReadyCheck,
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        interval: float = 0.1,
    ) -> None:
        """Poll `check` until it returns True; fail early when the process dies or `cancel` is set."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while True:
            if cancel is not None and cancel.is_set():
                raise StartCancelled(f"start of {self.name} was cancelled")
            if not self.alive:
                raise RuntimeError(self._failure(f"{self.name} exited with code {self.returncode} while starting"))
            try:
                if check():
                    return
            except Exception as exc:
                last_error = f" ({type(exc).__name__}: {exc})".replace("\n", " ")
            if time.monotonic() >= deadline:
                raise RuntimeError(self._failure(f"{self.name} was not ready after {timeout:.0f}s{last_error}"))
            time.sleep(interval)

    def stop(self) -> int | None:
        """Stop the process (its signal, then SIGKILL to its whole group) and return its exit code."""
        popen = self._popen
        if popen is None:
            return None
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, self.stop_signal)
            try:
                popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                # The leader is not reaped yet, so its group id cannot have been recycled.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()
        self.pid_path.unlink(missing_ok=True)
        return popen.returncode

    def tail(self, lines: int = 20) -> list[str]:
        """The last lines this run wrote to its log."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def reap_orphan(self) -> None:
        """Stop a child that a crashed launcher left behind; refuse if its launcher is still alive."""
        try:
            record = json.loads(self.pid_path.read_text())
            pid, created = int(record["pid"]), float(record["create_time"])
            owner, owner_created = int(record["owner_pid"]), float(record["owner_create_time"])
        except (OSError, ValueError, KeyError, TypeError):
            self.pid_path.unlink(missing_ok=True)
            return
        if _same_process(pid, created):
            if _same_process(owner, owner_created):
                raise RuntimeError(
                    f"{self.name} is already running from {self.pid_path.parent.parent} "
                    f"(pid {pid}, started by pid {owner}); stop that one first"
                )
            self._stop_orphan(pid)
        self.pid_path.unlink(missing_ok=True)

    def _stop_orphan(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, self.stop_signal)
        if not wait_gone(pid, self.stop_timeout):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            wait_gone(pid, 5.0)

    def _write_pid_file(self) -> None:
        assert self._popen is not None
        record = {
            "pid": self._popen.pid,
            "create_time": _create_time(self._popen.pid),
            "owner_pid": os.getpid(),
            "owner_create_time": _create_time(os.getpid()),
            "argv": self.argv,
        }
        self.pid_path.write_text(json.dumps(record))

    def _failure(self, summary: str) -> str:
        lines = self.tail()
        if not lines:
            return f"{summary}; see {self.log_path}"
        return f"{summary}; last lines of {self.log_path}:\n" + "\n".join(f"    {line}" for line in lines)
