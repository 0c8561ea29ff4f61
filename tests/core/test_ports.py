"""Ports chosen for the embedded stack must stay out of the way of servers that pick their own."""

from __future__ import annotations

import socket

import pytest

from core.stack.ports import ensure_port_free, free_port, port_is_free

HOST = "127.0.0.1"


def test_a_chosen_port_is_not_handed_to_the_next_process_asking_for_any_port() -> None:
    # The Temporal dev server asks the OS for its internal service ports; one of them once came back equal
    # to the metrics port picked for it a moment before, and the server crashed.
    chosen = {free_port(HOST) for _ in range(20)}
    handed_out = set()
    for _ in range(2000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            handed_out.add(sock.getsockname()[1])
    assert not chosen & handed_out


def test_a_chosen_port_can_still_be_bound_by_a_server() -> None:
    port = free_port(HOST)
    assert port_is_free(HOST, port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((HOST, port))
        server.listen(1)
        assert not port_is_free(HOST, port)
        with pytest.raises(RuntimeError) as refused:
            ensure_port_free(HOST, port, "Redis", "set AIAAS_REDIS_PORT")
        assert str(refused.value) == f"port {port} (Redis) on {HOST} is taken; set AIAAS_REDIS_PORT"
