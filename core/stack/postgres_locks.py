"""What a Postgres server that crashed or was left running leaves in the cluster, cleared before a start.

Our own server is a direct child of the launcher and dies with it (`spawn.py`). A server on the same cluster
that outlived whatever started it (pg_ctl, which daemonizes; an older launcher) holds the port and the
cluster, and nothing else would ever stop it: the next start stops it from the cluster's own pid file.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

import psutil

from core.stack.process import wait_gone

STALE_STOP_TIMEOUT = 15.0


def _owned_by_a_launcher(server: psutil.Process) -> bool:
    # Our launchers are Python processes and the server is their direct child; an orphan belongs to init
    # or to a subreaper, and a server pg_ctl started was orphaned on purpose.
    parent = server.parent()
    return parent is not None and parent.pid != 1 and "python" in parent.name().lower()


def _server_on(pgdata: Path) -> psutil.Process | None:
    """The live server the cluster's pid file names, if it is a server of this cluster."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        server = psutil.Process(pid)
        # A recycled pid names an unrelated process, which must be left alone.
        if str(pgdata) in server.cmdline() and server.status() != psutil.STATUS_ZOMBIE:
            return server
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess, psutil.AccessDenied):
        # No pid file, a malformed one, or a process gone or not ours to inspect: no server of this cluster.
        return None
    return None


def stop_stale_server(pgdata: Path, report: Callable[[str], None]) -> None:
    """Stop a server of this cluster that no launcher owns any more; refuse if one still does."""
    server = _server_on(pgdata)
    if server is None:
        return
    try:
        owned = _owned_by_a_launcher(server)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return
    if owned:
        raise RuntimeError(
            f"a Postgres server (pid {server.pid}) is already running on {pgdata}, started by another launcher; "
            "stop that one first"
        )
    report(f"stopping a server left running on this cluster (pid {server.pid})")
    # SIGINT is the fast shutdown: it ends the server's sessions instead of waiting for them to leave.
    with contextlib.suppress(ProcessLookupError):
        os.kill(server.pid, signal.SIGINT)
    if not wait_gone(server.pid, STALE_STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGKILL)
        wait_gone(server.pid, 5.0)


def clear_stale_locks(pgdata: Path, socket_dir: Path, report: Callable[[str], None]) -> None:
    """Remove lock files left by a server that crashed, so Postgres does not refuse to start.

    Postgres clears its own stale lock only when the recorded pid is gone; after a crash that pid may have
    been reused by an unrelated process, and Postgres then refuses to start ("lock file already exists").
    """
    stop_stale_server(pgdata, report)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    for stale in socket_dir.glob(".s.PGSQL.*"):
        stale.unlink(missing_ok=True)
