"""A streaming standby of the embedded Postgres, and its promotion.

The standby is a `pg_basebackup -R` copy of the primary (the copy carries `standby.signal` and the
`primary_conninfo` to stream from) started by the stack's own Postgres part on another port. It answers
read-only queries while it streams; `promote` makes it the primary (`pg_promote`), and a client whose URL
names both servers with `target_session_attrs=read-write` finds it there. Used by the standby failover drill
(`python -m benchmarks standby`, docs/multi-region.md).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import asyncpg

from core.dr.backup import pg_basebackup
from core.stack.ports import free_port
from core.stack.postgres import READY_TIMEOUT, EmbeddedPostgres


class StandbyPostgres(EmbeddedPostgres):
    """The stack's Postgres on a standby copy: started without the bootstrap (a standby is read-only)."""

    def start(self, cancel: threading.Event) -> str:
        assert self.process is not None, "preflight() first"
        password = self._init_once()
        self._clear_stale_locks()
        self.process.start()
        url = self.url(password)
        self.process.wait_ready(lambda: self._answers(url), timeout=READY_TIMEOUT, cancel=cancel)
        return url


async def start_standby(primary_url: str, password: str, data_dir: Path, host: str = "127.0.0.1") -> StandbyPostgres:
    """A streaming standby of `primary_url` under `data_dir`, started on a free port."""
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    standby = StandbyPostgres(data_dir=data_dir, host=host, port=free_port(host))
    await pg_basebackup(primary_url, standby.pgdata, lambda _detail: None, data_dir / "pg_basebackup.log", standby=True)
    standby.password_file.write_text(password + "\n")
    standby.password_file.chmod(0o600)
    standby.preflight()
    await asyncio.to_thread(standby.start, threading.Event())
    return standby


async def replay_lag_bytes(primary_url: str, standby_url: str) -> int:
    """How many bytes of the primary's WAL the standby has not replayed yet."""
    primary = await asyncpg.connect(primary_url, timeout=10)
    standby = await asyncpg.connect(standby_url, timeout=10)
    try:
        current = await primary.fetchval("SELECT pg_current_wal_lsn()")
        return int(await standby.fetchval("SELECT $1::pg_lsn - pg_last_wal_replay_lsn()", current))
    finally:
        await primary.close()
        await standby.close()


async def promote(standby_url: str, within: float = 60.0) -> float:
    """Promote the standby behind `standby_url` and wait until it takes writes; returns the seconds it took."""
    began = time.monotonic()
    conn = await asyncpg.connect(standby_url, timeout=10)
    try:
        if not await conn.fetchval("SELECT pg_promote(wait => true, wait_seconds => $1)", int(within)):
            raise RuntimeError(f"the standby was not promoted within {within:.0f} s")
    finally:
        await conn.close()
    return time.monotonic() - began
