"""`aiaas gateway`: the HTTP gateway under uvicorn."""

from __future__ import annotations

import argparse

from core.settings import get_settings


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings().require()
    uvicorn.run(
        "api.app:create_app",
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
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.set_defaults(func=_run)
