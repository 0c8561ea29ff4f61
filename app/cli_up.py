"""`aiaas up`'s command line: its flags, and the settings they override, read before anything starts."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_up_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("up", help="run Temporal, Postgres, Redis, a worker and the gateway here")
    parser.add_argument("--data-dir", type=Path, default=None, help="state directory (default: AIAAS_DATA_DIR)")
    parser.add_argument("--port", type=int, default=None, help="gateway port (default: AIAAS_GATEWAY_PORT)")
    parser.add_argument("--no-gateway", action="store_true", help="do not start the gateway")
    parser.add_argument("--no-worker", action="store_true", help="do not start the worker")
    parser.add_argument(
        "--smtp", action="store_true", help="also run the development SMTP receiver for email channels (`aiaas smtp`)"
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="worker processes, of role workflows when split (default: AIAAS_WORKERS, else one per core)",
    )
    parser.add_argument(
        "--worker-roles",
        choices=("all", "split"),
        default=None,
        help="all: every worker runs every workflow and activity; split: --workers processes run the workflows "
        "and --activity-workers the activities (default: AIAAS_UP_WORKER_ROLES, else all)",
    )
    parser.add_argument(
        "--activity-workers",
        type=_positive,
        default=None,
        help="with --worker-roles split: activities processes (default: AIAAS_ACTIVITY_WORKERS, else one per core)",
    )
    parser.add_argument(
        "--gateway-workers",
        type=_positive,
        default=None,
        help="gateway processes sharing the port (default: AIAAS_GATEWAY_WORKERS, else one per core)",
    )
    parser.set_defaults(func=run_up)


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be from 1 to 64")
    return value


def run_up(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from core.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        raise RuntimeError(f"invalid settings: {exc.errors()[0]['msg']}") from exc
    updates: dict[str, object] = {}
    if args.data_dir is not None:
        updates["data_dir"] = args.data_dir
    if args.port is not None:
        updates["gateway_port"] = args.port
    if args.workers is not None:
        updates["workers"] = args.workers
    if args.worker_roles is not None:
        updates["up_worker_roles"] = args.worker_roles
    if args.activity_workers is not None:
        if (args.worker_roles or settings.up_worker_roles) != "split":
            raise RuntimeError("--activity-workers needs --worker-roles split (or AIAAS_UP_WORKER_ROLES=split)")
        updates["activity_workers"] = args.activity_workers
    if args.gateway_workers is not None:
        updates["gateway_workers"] = args.gateway_workers
    # Imported here so that building the `aiaas` parser loads neither the stack nor psutil.
    from app.up import Up
    from core.stack.ports import free_port

    up = Up(settings.model_copy(update=updates), gateway=not args.no_gateway, worker=not args.no_worker)
    up.smtp_port = (settings.smtp_port or free_port(settings.host)) if args.smtp else 0
    return up.run()
