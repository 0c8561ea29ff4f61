"""`aiaas gateway`: the HTTP gateway under uvicorn, built with the platform's tools.

The gateway's app takes its tool registry as a parameter; this is where the registry the workers load is
chosen for it too, so `GET /v1/tools` and agent validation see exactly what the workers can run.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from core.settings import get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def gateway_app() -> FastAPI:
    """uvicorn's app factory: imports the gateway and every tool module only in the serving process."""
    from api.app import create_app
    from app.tools import platform_registry

    return create_app(registry=platform_registry())


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings().require()
    uvicorn.run(
        "app.gateway:gateway_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.gateway_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
    )
    return 0


def add_gateway_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gateway", help="run the HTTP gateway")
    parser.add_argument("--host", default=None, help="address to listen on (default: AIAAS_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: AIAAS_GATEWAY_PORT)")
    parser.set_defaults(func=_run)
