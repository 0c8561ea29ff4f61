"""`aiaas gateway`: the HTTP gateway under uvicorn, built with the platform's tools.

The gateway's app takes its tool registry as a parameter; this is where the registry the workers load is
chosen for it too, so `GET /v1/tools` and agent validation see exactly what the workers can run.

`--reuse-port` binds with SO_REUSEPORT, so that several gateway processes (`aiaas up --gateway-workers N`)
listen on one port and the kernel spreads connections over them. Each is a child of `up` of its own, started
through `core/stack/spawn.py` like every other part, watched and stopped by it; uvicorn's own `--workers`
would put a supervisor between them that the kernel does not stop when `up` is killed.
"""

from __future__ import annotations

import argparse
import socket
from typing import TYPE_CHECKING

from core.proxies import uvicorn_proxy_options
from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from uvicorn import Config


def gateway_app() -> FastAPI:
    """uvicorn's app factory: imports the gateway and every tool module only in the serving process."""
    from api.app import create_app
    from app.tools import platform_registry
    from console import install_console

    app = create_app(registry=platform_registry())
    install_console(app)
    return app


def shared_socket(host: str, port: int) -> socket.socket:
    """A bound, not yet listening socket that other processes may bind too; uvicorn listens on it once the
    app has started, so the kernel hands this process no connection before it can answer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


# The largest WebSocket message a client may send. Clients send nothing a stream acts on (reading only notices
# that they left), so anything larger is closed with 1009 instead of being read whole (uvicorn's default: 16 MiB).
WS_MAX_MESSAGE_BYTES = 65_536


def gateway_config(settings: Settings, host: str, port: int, app: object = "app.gateway:gateway_app") -> Config:
    """uvicorn's configuration of a gateway process; `app` is replaceable so tests can see what a request's
    scope looks like after uvicorn's middleware under exactly these options."""
    import uvicorn

    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        factory=isinstance(app, str),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        **uvicorn_proxy_options(settings.trusted_proxies),  # type: ignore[arg-type]
    )


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings().require()
    host, port = args.host or settings.host, args.port or settings.gateway_port
    server = uvicorn.Server(gateway_config(settings, host, port))
    if args.reuse_port:
        server.run(sockets=[shared_socket(host, port)])
    else:
        server.run()
    return 0


def add_gateway_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gateway", help="run the HTTP gateway")
    parser.add_argument("--host", default=None, help="address to listen on (default: AIAAS_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: AIAAS_GATEWAY_PORT)")
    parser.add_argument(
        "--reuse-port", action="store_true", help="share the port with other gateway processes (SO_REUSEPORT)"
    )
    parser.set_defaults(func=_run)
