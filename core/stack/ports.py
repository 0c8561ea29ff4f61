"""Port checks for the embedded stack, so a taken port fails before anything starts, in one clear line."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS considers free right now (another process may still take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
        raise RuntimeError(f"{message}; {hint}" if hint else message)
