"""The embedded stack: Temporal, Postgres and Redis started (or connected to) as one unit.

An endpoint already set in the settings means "connect, do not start". The endpoints in use are written to
`<data_dir>/stack.json`, which `Settings.with_stack_endpoints()` reads in the other processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from core.settings import Settings
from core.stack.ports import free_port
from core.stack.postgres import EmbeddedPostgres, check_postgres
from core.stack.process import ManagedProcess, StartCancelled
from core.stack.progress import SILENT, Progress
from core.stack.redis import EmbeddedRedis, check_redis
from core.stack.temporal import EmbeddedTemporal, check_temporal, ui_codec_endpoint


@dataclass(frozen=True)
class StackEndpoints:
    temporal_address: str
    temporal_ui_url: str | None
    database_url: str
    redis_url: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> StackEndpoints:
        data = json.loads(text)
        return cls(
            temporal_address=data["temporal_address"],
            temporal_ui_url=data.get("temporal_ui_url"),
            database_url=data["database_url"],
            redis_url=data["redis_url"],
        )


class Part(Protocol):
    name: str

    @property
    def processes(self) -> list[ManagedProcess]: ...

    def preflight(self) -> None: ...

    def start(self, cancel: threading.Event) -> str: ...

    def stop(self) -> None: ...


class External:
    """A part that already runs elsewhere: it is checked before anything starts, and never stopped."""

    processes: list[ManagedProcess] = []

    def __init__(self, name: str, url: str, check: Callable[[str], None]) -> None:
        self.name = name
        self.url = url
        self._check = check

    def preflight(self) -> None:
        self._check(self.url)

    def start(self, cancel: threading.Event) -> str:
        return self.url

    def stop(self) -> None:
        return None


class Stack:
    def __init__(self, settings: Settings, progress: Progress = SILENT) -> None:
        self.settings = settings
        self.progress = progress
        self.data_dir = Path(settings.data_dir).expanduser().resolve()
        self.endpoints: StackEndpoints | None = None
        self._parts: list[Part] = []
        self._wrote_stack_file = False

    @property
    def stack_file(self) -> Path:
        return self.data_dir / "stack.json"

    @property
    def processes(self) -> list[ManagedProcess]:
        """The children this stack started, in start order."""
        return [process for part in self._parts for process in part.processes]

    def start(self) -> StackEndpoints:
        if self._parts:
            raise RuntimeError("the stack is already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._parts = self._build_parts()
        temporal = self._parts[0]
        try:
            # Binaries, ports and external endpoints are checked before anything starts, so a mistake
            # costs no initdb and leaves nothing to clean up.
            for part in self._parts:
                if isinstance(part, External):
                    with self.progress.timing(part.name, "connected"):
                        part.preflight()
                else:
                    part.preflight()
            temporal_address, database_url, redis_url = self._start_concurrently()
            ui_url = temporal.ui_url if isinstance(temporal, EmbeddedTemporal) else self.settings.temporal_ui_url
            endpoints = StackEndpoints(temporal_address, ui_url, database_url, redis_url)
            self._write_stack_file(endpoints)
        except BaseException:
            # The error that stopped the start is the one worth reporting, not a later one while cleaning up.
            with contextlib.suppress(Exception):
                self.stop()
            raise
        self.endpoints = endpoints
        return endpoints

    def stop(self) -> None:
        """Stop what this stack started, in reverse order; safe to call more than once."""
        failures: list[str] = []
        for part in reversed(self._parts):
            try:
                part.stop()
            except Exception as exc:
                failures.append(f"{part.name}: {exc}")
        self._parts = []
        self.endpoints = None
        if self._wrote_stack_file:
            self.stack_file.unlink(missing_ok=True)
            self._wrote_stack_file = False
        if failures:
            raise RuntimeError("could not stop " + "; ".join(failures))

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _build_parts(self) -> list[Part]:
        s = self.settings
        temporal: Part
        postgres: Part
        redis: Part
        if s.temporal_address:
            namespace = s.temporal_namespace
            temporal = External("temporal", s.temporal_address, lambda url: check_temporal(url, namespace))
        else:
            temporal = EmbeddedTemporal(
                data_dir=self.data_dir,
                host=s.host,
                port=s.temporal_port,
                ui_port=s.temporal_ui_port,
                namespace=s.temporal_namespace,
                codec_endpoint=ui_codec_endpoint(s),
            )
        if s.database_url:
            postgres = External("postgres", s.database_url, check_postgres)
        else:
            postgres = EmbeddedPostgres(
                data_dir=self.data_dir, host=s.host, port=s.postgres_port, progress=self.progress
            )
        if s.redis_url:
            redis = External("redis", s.redis_url, check_redis)
        else:
            redis = EmbeddedRedis(data_dir=self.data_dir, host=s.host, port=s.redis_port)
        return [temporal, postgres, redis]

    def _start_concurrently(self) -> list[str]:
        """Start all parts at once; the first failure cancels the others' waits and is the one raised."""
        cancel = threading.Event()
        with ThreadPoolExecutor(max_workers=len(self._parts), thread_name_prefix="stack-start") as pool:
            futures: list[Future[str]] = [pool.submit(self._start_part, part, cancel) for part in self._parts]
            try:
                wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:
                # Ctrl-C while waiting: leaving the `with` waits for the threads, which now give up quickly.
                cancel.set()
                raise
            if any(f.done() and f.exception() is not None for f in futures):
                cancel.set()
                wait(futures)
        errors = [error for f in futures if (error := f.exception()) is not None]
        if errors:
            raise next((e for e in errors if not isinstance(e, StartCancelled)), errors[0])
        return [f.result() for f in futures]

    def _start_part(self, part: Part, cancel: threading.Event) -> str:
        if isinstance(part, External):
            return part.start(cancel)
        with self.progress.timing(part.name):
            try:
                return part.start(cancel)
            except RuntimeError:
                raise
            except Exception as exc:
                # A driver's error names neither the part nor where to look; the one line must.
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                logs = "".join(f"; see {p.log_path}" for p in part.processes)
                raise RuntimeError(f"{part.name} did not start: {detail}{logs}") from exc

    def _write_stack_file(self, endpoints: StackEndpoints) -> None:
        # The database URL carries the superuser password, so only the owner may read the file.
        partial = self.stack_file.with_suffix(".json.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            os.fchmod(fd, 0o600)
            out.write(endpoints.to_json() + "\n")
        partial.replace(self.stack_file)
        self._wrote_stack_file = True


@contextlib.contextmanager
def throwaway_stack(prefix: str, **overrides: Any) -> Iterator[Settings]:
    """A fresh embedded stack on free ports in a new temporary data dir, for benchmarks and recorders that
    must not collide with a running `aiaas up`; yields settings with every endpoint filled in."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    base = Settings(
        data_dir=data_dir,
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        postgres_port=free_port(),
        redis_port=free_port(),
        **overrides,
    )
    try:
        with Stack(base) as stack:
            endpoints = stack.endpoints
            assert endpoints is not None
            yield base.model_copy(
                update={
                    "temporal_address": endpoints.temporal_address,
                    "database_url": endpoints.database_url,
                    "redis_url": endpoints.redis_url,
                    "temporal_ui_url": endpoints.temporal_ui_url,
                }
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
