"""A scratch stack started on backup copies, on free ports under its own dir, and stopped without a trace.

It reuses the stack's own parts: `EmbeddedPostgres` finds the restored cluster (its `PG_VERSION`) and starts
it instead of running initdb, and Postgres replays the WAL the base backup carries; `EmbeddedTemporal` runs
the dev server on the copied SQLite file. Redis is the stack's Redis with the append-only file off, because
Redis ignores an RDB file whenever append-only is on; that is Redis's own restore procedure.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from core.stack.ports import PortTaken, free_port
from core.stack.postgres import EmbeddedPostgres
from core.stack.process import ManagedProcess
from core.stack.redis import EmbeddedRedis
from core.stack.temporal import EmbeddedTemporal


async def _primary(url: str, connect_timeout: float) -> bool:
    conn = await asyncpg.connect(url, timeout=connect_timeout)
    try:
        return not await conn.fetchval("SELECT pg_is_in_recovery()")
    finally:
        await conn.close()


class RestoredPostgres(EmbeddedPostgres):
    """The stack's Postgres on a restored cluster: ready once its recovery has ended and it has opened for
    writes (a hot standby answers read-only queries long before)."""

    @staticmethod
    def _answers(url: str) -> bool:
        return asyncio.run(_primary(url, 2.0))


class RdbRedis(EmbeddedRedis):
    """The stack's Redis, loading `<data_dir>/redis/dump.rdb` instead of an append-only file."""

    def preflight(self) -> None:
        super().preflight()
        assert self.process is not None
        argv = self.process.argv
        argv[argv.index("--appendonly") + 1] = "no"
        argv += ["--dbfilename", "dump.rdb"]


# How many times a part's ports are chosen before a taken port fails the start.
PORT_ATTEMPTS = 3


@dataclass
class ScratchStack:
    """The three restored stores under `root`; `start()` then `stop()`, which is safe to call twice."""

    root: Path
    password: str
    namespace: str
    host: str = "127.0.0.1"
    # A regional server's restore: its Postgres only (Redis and Temporal are the global server's).
    postgres_only: bool = False
    postgres: RestoredPostgres = field(init=False)
    redis: RdbRedis = field(init=False)
    temporal: EmbeddedTemporal = field(init=False)

    def __post_init__(self) -> None:
        self.postgres = RestoredPostgres(data_dir=self.root, host=self.host, port=free_port(self.host))
        self.redis = RdbRedis(data_dir=self.root, host=self.host, port=free_port(self.host))
        self.temporal = EmbeddedTemporal(
            data_dir=self.root,
            host=self.host,
            port=free_port(self.host),
            ui_port=free_port(self.host),
            namespace=self.namespace,
        )

    @property
    def _parts(self) -> tuple[EmbeddedTemporal | RestoredPostgres | RdbRedis, ...]:
        return (self.postgres,) if self.postgres_only else (self.temporal, self.postgres, self.redis)

    @property
    def processes(self) -> list[ManagedProcess]:
        return [process for part in self._parts for process in part.processes]

    @property
    def ports(self) -> list[int]:
        if self.postgres_only:
            return [self.postgres.port]
        return [self.postgres.port, self.redis.port, self.temporal.port, self.temporal.ui_port]

    @property
    def database_url(self) -> str:
        return self.postgres.url(self.password)

    def place(self, pgdata: Path, wal_archive: Path, restore_point: str, rdb: Path | None, sqlite: Path | None) -> None:
        """Move the copies to where the parts look for them; Postgres recovers to `restore_point` from the
        base backup and the WAL archive, then opens (promotes) there."""
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.move(pgdata, self.postgres.pgdata)
        # A base backup carries the source's server settings, never its running state; no stale pid file.
        (self.postgres.pgdata / "postmaster.pid").unlink(missing_ok=True)
        # The segment pg_receivewal was writing when stopped is still named `.partial`.
        fetch = f"cp {wal_archive}/%f %p 2>/dev/null || cp {wal_archive}/%f.partial %p"
        with (self.postgres.pgdata / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"restore_command = '{fetch}'\n"
                f"recovery_target_name = '{restore_point}'\n"
                "recovery_target_action = 'promote'\n"
            )
        (self.postgres.pgdata / "recovery.signal").touch()
        self.postgres.password_file.write_text(self.password + "\n")
        self.postgres.password_file.chmod(0o600)
        if rdb is not None:
            (self.root / "redis").mkdir(exist_ok=True)
            shutil.move(rdb, self.root / "redis" / "dump.rdb")
        if sqlite is not None:
            (self.root / "temporal").mkdir(exist_ok=True)
            shutil.move(sqlite, self.root / "temporal" / "temporal.db")

    async def start(self) -> None:
        """Start the three at once; any failure stops what started."""
        cancel = threading.Event()
        parts = self._parts
        try:
            for part in parts:
                self._preflight(part)
            results = await asyncio.gather(
                *(asyncio.to_thread(part.start, cancel) for part in parts), return_exceptions=True
            )
        except BaseException:
            cancel.set()
            self.stop()
            raise
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self.stop()
            raise RuntimeError(f"the scratch stack did not start: {errors[0]}") from errors[0]

    def _preflight(self, part: EmbeddedTemporal | RestoredPostgres | RdbRedis) -> None:
        """Check a part's ports just before it starts. Its ports were chosen free when the stack was built, but
        placing the copies takes long enough for another process (a client's ephemeral port, another test's
        server) to take one; a taken port is then chosen again rather than failing the drill, whose copies
        are already moved into place."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                part.preflight()
                return
            except PortTaken:
                if attempt == PORT_ATTEMPTS - 1:
                    raise
                part.port = free_port(self.host)
                if isinstance(part, EmbeddedTemporal):
                    part.ui_port = free_port(self.host)

    def stop(self) -> None:
        for part in reversed(self._parts):
            with contextlib.suppress(Exception):
                part.stop()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
