"""A DR drill's scratch stack whose chosen port was taken while the backup copies were being placed starts on
another port instead of failing the drill; a port that stays taken still fails in one clear line."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.dr import scratch as scratch_module
from core.dr.scratch import ScratchStack
from core.stack.ports import PortTaken, port_is_free


@contextmanager
def held(port: int) -> Iterator[None]:
    """Another process's listener on `port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The chosen port lingers in TIME_WAIT (see `free_port`); a server binds it the way ours do.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        yield


def test_a_port_taken_before_start_is_chosen_again(tmp_path: Path) -> None:
    stack = ScratchStack(root=tmp_path, password="pw", namespace="default")
    redis_port, temporal_port = stack.redis.port, stack.temporal.port
    with held(redis_port), held(temporal_port):
        stack._preflight(stack.redis)
        stack._preflight(stack.temporal)
        assert stack.redis.port != redis_port and stack.temporal.port != temporal_port
        assert port_is_free("127.0.0.1", stack.redis.port) and port_is_free("127.0.0.1", stack.temporal.port)
        # The processes about to start are told the new ports, not the taken ones.
        assert stack.redis.process is not None and str(stack.redis.port) in stack.redis.process.argv
        assert stack.temporal.process is not None and str(stack.temporal.port) in stack.temporal.process.argv
        assert str(redis_port) not in stack.redis.process.argv
    assert stack.redis.port in stack.ports and stack.temporal.port in stack.ports


def test_a_free_port_is_kept(tmp_path: Path) -> None:
    stack = ScratchStack(root=tmp_path, password="pw", namespace="default")
    port = stack.redis.port
    stack._preflight(stack.redis)
    assert stack.redis.port == port


def test_ports_that_stay_taken_fail_with_the_port_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = ScratchStack(root=tmp_path, password="pw", namespace="default")
    port = stack.redis.port
    # Every new choice lands on the same taken port.
    monkeypatch.setattr(scratch_module, "free_port", lambda host: port)
    with held(port), pytest.raises(PortTaken, match=f"port {port} \\(Redis\\)"):
        stack._preflight(stack.redis)
