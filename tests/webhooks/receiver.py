"""A webhook receiver on loopback for tests and the benchmark: records every request, fails on a plan.

`Receiver(plan)` answers each request by `plan(path, nth request to that path, headers)`, which returns a
status code and optional headers; the default fails every other request with 500. Runs in a thread so the
activities under test reach it over real HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Plan = Callable[[str, int, dict[str, str]], tuple[int, dict[str, str]]]


def fail_every_other(path: str, nth: int, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    return (500, {}) if nth % 2 == 1 else (204, {})


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    plan: Plan = fail_every_other
    received: list[Received] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    nth = receiver._counts.get(self.path, 0) + 1
                    receiver._counts[self.path] = nth
                    status, extra = receiver.plan(self.path, nth, headers)
                    receiver.received.append(Received(self.path, headers, body, status))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
