"""Starting the stack's children so that they die with the launcher, even when it is killed with SIGKILL.

On Linux every child goes through `die_with_parent.py`, which asks the kernel to send it a signal when its
parent goes away. The kernel's "parent" is the thread that forked, not the process: a child forked from a
short-lived thread (the stack starts its parts from a thread pool) would be signalled when that thread
ends. So every fork happens on one thread that lives as long as the process. Elsewhere children start
plainly, and the pid files (`process.py`) are how the next start finds what a killed launcher left behind.
"""

from __future__ import annotations

import concurrent.futures
import errno
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

WRAPPER = Path(__file__).with_name("die_with_parent.py")
SUPPORTED = sys.platform.startswith("linux")


class _Forker:
    """One long-lived daemon thread that runs every fork of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._pid = 0

    def run(self, call: Callable[[], T]) -> T:
        if threading.current_thread() is self._thread:
            return call()
        self._ensure_thread()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._requests.put((call, result))
        return result.result()

    def _ensure_thread(self) -> None:
        with self._lock:
            # A forked copy of this process has the object but not the thread.
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._requests = queue.SimpleQueue()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._serve, name="stack-forker", daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        requests = self._requests
        while True:
            call, result = requests.get()
            try:
                result.set_result(call())
            except BaseException as exc:
                result.set_exception(exc)


_forker = _Forker()


def resolve(program: str, env: Mapping[str, str] | None) -> str:
    """The executable `program` names, looked up on the child's PATH as `Popen` would."""
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    found = shutil.which(program, path=search)
    if found is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    return found


def spawn(
    argv: Sequence[str],
    *,
    death_signal: int,
    env: Mapping[str, str] | None = None,
    uid: int | None = None,
    gid: int | None = None,
    groups: list[int] | None = None,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """`subprocess.Popen(argv, ...)` for a child that gets `death_signal` when this process dies.

    Same pid, same argv once it runs; `uid`/`gid`/`groups` as Popen's `user`/`group`/`extra_groups`.
    """
    args = [str(part) for part in argv]
    if not SUPPORTED:
        return _forker.run(lambda: subprocess.Popen(args, env=env, user=uid, group=gid, extra_groups=groups, **popen))
    child_env = dict(env if env is not None else os.environ)
    spec = {
        "parent": os.getpid(),
        "signal": int(death_signal),
        "path": resolve(args[0], child_env),
        "uid": uid,
        "gid": gid if uid is not None else None,
        "groups": (groups or []) if uid is not None else None,
        "lc_ctype": child_env.get("LC_CTYPE"),
    }
    wrapped = [sys.executable, "-I", "-S", str(WRAPPER), json.dumps(spec), *args]
    return _forker.run(lambda: subprocess.Popen(wrapped, env=child_env, **popen))
