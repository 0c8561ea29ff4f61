"""Backups of the running stack's stores, each consistent on its own.

- Postgres: `pg_basebackup -X stream` over the replication protocol, so the copy carries the WAL written
  while it ran and starts as a consistent cluster, and `pg_receivewal` streaming the WAL after it into an
  archive, so a restore can recover to any later point the archive holds. Both binaries ship with the
  embedded Postgres wheel and, like the server, refuse to run as root: as root they run as the stack's
  Postgres system user.
- Redis: `BGSAVE` (a forked, point-in-time RDB snapshot) and a copy of the finished file. The append-only
  file the stack writes is not copied: a copy taken while Redis appends to it can end mid-command.
- Temporal dev server: SQLite's online backup API, which copies a consistent snapshot while the server writes.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

import asyncpg
import redis.asyncio as aioredis

from core.stack.postgres import SYSTEM_USER, _pgserver, asyncpg_dsn

Beat = Callable[[str], None]
REDIS_MARKER_KEY = "aiaas:dr:marker"
BGSAVE_TIMEOUT = 600.0


def _run_as() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


async def _wait(proc: asyncio.subprocess.Process, beat: Beat, what: str, every: float = 5.0) -> int:
    while True:
        try:
            return await asyncio.wait_for(proc.wait(), every)
        except TimeoutError:
            beat(what)


def _pg_env(parts: SplitResult) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PGPASSWORD": unquote(parts.password or ""), "PGCONNECT_TIMEOUT": "10"}


def _pg_conn_args(parts: SplitResult) -> list[str]:
    return [
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        unquote(parts.username or "postgres"),
    ]


def _pg_binary(name: str) -> str:
    binary = _pgserver()[0] / name
    if not binary.is_file():
        raise RuntimeError(f"{name} not found at {binary}")
    return str(binary)


async def _spawn(argv: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`argv` as the stack's Postgres user when root (the Postgres tools refuse root), output to `log`."""
    user = _run_as()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, env=env, cwd="/",
            user=user, group=(pwd.getpwnam(user).pw_gid if user else None), extra_groups=([] if user else None),
        )  # fmt: skip


async def pg_basebackup(database_url: str, target: Path, beat: Beat, log: Path, *, standby: bool = False) -> None:
    """A plain-format base backup of the cluster behind `database_url` into `target` (which must not exist);
    with `standby`, also the settings that make it a streaming standby of that cluster (`-R`)."""
    parts = urlsplit(asyncpg_dsn(database_url))
    await asyncio.to_thread(_prepare_target, target, _run_as())
    argv = [
        _pg_binary("pg_basebackup"), *_pg_conn_args(parts), "-D", str(target), "-X", "stream",
        # An immediate checkpoint: the drill should not wait up to checkpoint_timeout for the next one.
        "-c", "fast", "--no-password", *(["-R"] if standby else []),
    ]  # fmt: skip
    proc = await _spawn(argv, _pg_env(parts), log)
    try:
        code = await _wait(proc, beat, "pg_basebackup")
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if code != 0:
        tail = (await asyncio.to_thread(log.read_text, errors="replace")).strip().splitlines()[-5:]
        raise RuntimeError(f"pg_basebackup failed with code {code}: {' | '.join(tail)}")


class WalStream:
    """`pg_receivewal --synchronous` into `target`: the WAL archive, flushed as the server writes it.

    This is what bounds the Postgres RPO between base backups: a restore replays the base backup and then
    this archive, up to any point it holds.
    """

    def __init__(self, database_url: str, target: Path, log: Path) -> None:
        self._parts = urlsplit(asyncpg_dsn(database_url))
        self._url = database_url
        self.target = target
        self._log = log
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        await asyncio.to_thread(_prepare_target, self.target, _run_as())
        argv = [
            _pg_binary("pg_receivewal"), *_pg_conn_args(self._parts), "-D", str(self.target),
            "--synchronous", "--no-password", "--no-loop",
        ]  # fmt: skip
        self._proc = await _spawn(argv, _pg_env(self._parts), self._log)

    async def flushed_to(self, lsn: str, within: float = 60.0) -> float:
        """Wait until the archive has flushed past `lsn`; returns the seconds that took."""
        began = time.monotonic()
        conn = await asyncpg.connect(asyncpg_dsn(self._url), timeout=10)
        try:
            while True:
                done = await conn.fetchval(
                    "SELECT bool_or(flush_lsn >= $1::text::pg_lsn) FROM pg_stat_replication "
                    "WHERE application_name = 'pg_receivewal'",
                    lsn,
                )
                if done:
                    return time.monotonic() - began
                if self._proc is None or self._proc.returncode is not None:
                    raise RuntimeError(f"pg_receivewal stopped; see {self._log}")
                if time.monotonic() - began > within:
                    raise RuntimeError(f"the WAL archive did not reach {lsn} in {within:.0f} s")
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            # SIGINT: pg_receivewal flushes what it has and exits.
            self._proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


def _prepare_target(target: Path, user: str | None) -> None:
    target.mkdir(mode=0o700, parents=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(target, entry.pw_uid, entry.pw_gid)
        # The user must reach it too: every folder above gets the search bit, as for the server's own data.
        _pgserver()[1].ensure_prefix_permissions(target)


async def redis_snapshot(redis_url: str, target: Path, marker: str, beat: Beat) -> tuple[int, float]:
    """Write `marker` to Redis, BGSAVE, and copy the finished RDB file to `target`.

    Returns the key count and when the snapshot was taken (Unix time: the fork holds Redis as of then)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.set(REDIS_MARKER_KEY, marker)
        before = (await client.lastsave()).timestamp()
        # LASTSAVE counts whole seconds: a save in the same second as the last one would not show.
        if time.time() - before < 1.5:
            await asyncio.sleep(1.5)
        keys = int(await client.dbsize())
        # SCHEDULE: when an AOF rewrite runs, the snapshot follows it instead of failing.
        taken_at = time.time()
        await client.execute_command("BGSAVE", "SCHEDULE")
        deadline = time.monotonic() + BGSAVE_TIMEOUT
        while True:
            info = await client.info("persistence")
            if not info.get("rdb_bgsave_in_progress") and (await client.lastsave()).timestamp() > before:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("Redis BGSAVE did not finish in time")
            beat("redis bgsave")
            await asyncio.sleep(0.2)
        if str(info.get("rdb_last_bgsave_status")) != "ok":
            raise RuntimeError("Redis BGSAVE failed; see the Redis log")
        folder = _text((await client.config_get("dir"))["dir"])
        name = _text((await client.config_get("dbfilename"))["dbfilename"])
    finally:
        await client.aclose()
    target.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(shutil.copy2, Path(folder) / name, target)
    return keys, taken_at


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def sqlite_backup(source: Path, target: Path) -> float:
    """A consistent copy of the SQLite database `source`, taken while another process writes to it; returns
    when its snapshot was taken (Unix time)."""
    if not source.is_file():
        raise RuntimeError(f"the Temporal dev server's database {source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30.0)
    try:
        dst = sqlite3.connect(target)
        try:
            # One step: the copy holds a read transaction for its whole length, so it is one snapshot;
            # copied in several steps, every write by the server in between would restart it.
            taken_at = time.time()
            src.backup(dst, pages=-1)
        finally:
            dst.close()
    finally:
        src.close()
    return taken_at


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


async def heartbeat_while(work: Awaitable[None], beat: Beat, what: str, every: float = 5.0) -> None:
    task = asyncio.ensure_future(work)
    while not task.done():
        await asyncio.wait({task}, timeout=every)
        if not task.done():
            beat(what)
    task.result()
