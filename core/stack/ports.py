"""Port checks for the embedded stack, so a taken port fails before anything starts, in one clear line."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A free port that the OS will not hand out again to `bind(port 0)` for about a minute.

    Linux picks ephemeral ports at random, so a port that was just released can come straight back to the
    next process asking for any port: the Temporal dev server picks its internal service ports that way
    and once took the metrics port chosen here, then crashed when its own listener failed. A connection
    accepted on the port and closed from the listening side leaves it in TIME_WAIT; while it lingers there
    `bind(0)` skips it, yet servers binding it by number with SO_REUSEADDR (all of ours do) still can.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])
        with socket.create_connection((host, port), timeout=2.0):
            accepted, _ = listener.accept()
            # The side that closes first keeps TIME_WAIT: here, the port's own side.
            accepted.close()
    return port


class PortTaken(RuntimeError):
    """A port the stack was to bind is held by another process."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers bind with SO_REUSEADDR; probing the same way keeps a port lingering in TIME_WAIT from
        # looking taken, while a listener on it (on this address or on 0.0.0.0) still makes the bind fail.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def ensure_port_free(host: str, port: int, what: str, hint: str | None = None) -> None:
    """Raise `RuntimeError("port 7233 (Temporal) on 127.0.0.1 is taken; <hint>")` when `port` is in use."""
    if not port_is_free(host, port):
        message = f"port {port} ({what}) on {host} is taken"
        raise PortTaken(f"{message}; {hint}" if hint else message)
