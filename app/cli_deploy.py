"""`aiaas deploy status|ramp|promote|rollback`: route new workflow runs between worker deployment versions.

Workers join the deployment `AIAAS_DEPLOYMENT_NAME` (default `aiaas`) as the version of their
`AIAAS_BUILD_ID`. A release starts the new version's workers, ramps a share of new runs onto it, promotes it
to current, and leaves the old version's workers up until `status` shows it drained. Steps and what each one
moves: docs/operations.md, "Safe deploys".
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from app.cli_context import add_data_dir, load_settings, table

if TYPE_CHECKING:
    from temporalio.client import Client

    from app.deployments import DeploymentStatus


def add_deploy_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("deploy", help="safe deploys: ramp, promote and roll back worker versions")
    commands = parser.add_subparsers(dest="deploy_command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.add_argument("--deployment", help="worker deployment name (default: AIAAS_DEPLOYMENT_NAME, else 'aiaas')")
        add_data_dir(sub)
        return sub

    status = command("status", "the current and ramping versions, and each version's drainage")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=_status)
    ramp = command("ramp", "send a percentage of new workflow runs to a build id (0 stops the ramp)")
    ramp.add_argument("build_id", help="the build id to ramp onto (its workers must be running)")
    ramp.add_argument("percentage", type=float, help="share of new runs, 0-100")
    ramp.set_defaults(func=_ramp)
    promote = command("promote", "make the ramping version (or BUILD_ID) current: every new run goes to it")
    promote.add_argument("build_id", nargs="?", help="the build id to make current (default: the ramping one)")
    promote.set_defaults(func=_promote)
    rollback = command("rollback", "stop a ramp, or make the previously current version (or BUILD_ID) current again")
    rollback.add_argument("build_id", nargs="?", help="the build id to return to (default: the previous current)")
    rollback.set_defaults(func=_rollback)


def _run(args: argparse.Namespace, work: Any) -> Any:
    import asyncio

    from temporalio.client import Client
    from temporalio.service import RPCError

    settings = load_settings(args.data_dir)
    if not settings.temporal_address:
        raise RuntimeError(
            f"TEMPORAL_ADDRESS not set and no embedded stack is running under {settings.data_dir} "
            "(start one with `aiaas up`)"
        )
    deployment = args.deployment or settings.deployment_name

    async def go() -> Any:
        client = await Client.connect(settings.temporal_address or "", namespace=settings.temporal_namespace)
        return await work(client, deployment)

    try:
        return asyncio.run(go())
    except RPCError as exc:
        raise RuntimeError(f"deployment {deployment}: {exc.message}") from exc
    except ValueError as exc:
        raise RuntimeError(str(exc)) from exc


def _print_status(status: DeploymentStatus, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "deployment": status.deployment_name,
                    "current": status.current_build_id,
                    "ramping": status.ramping_build_id,
                    "ramping_percentage": status.ramping_percentage,
                    "versions": [
                        {"build_id": v.build_id, "status": v.status, "drainage": v.drainage} for v in status.versions
                    ],
                }
            )
        )
        return
    ramp = f" ({status.ramping_percentage:g}% of new runs)" if status.ramping_build_id else ""
    print(f"deployment {status.deployment_name}")
    print(f"current  {status.current_build_id or '-'}")
    print(f"ramping  {status.ramping_build_id or '-'}{ramp}")
    rows = [[v.build_id, v.status, v.drainage] for v in status.versions]
    print(table(["BUILD ID", "STATUS", "DRAINAGE"], rows))


def _status(args: argparse.Namespace) -> int:
    from app.deployments import describe

    _print_status(_run(args, describe), args.json)
    return 0


def _ramp(args: argparse.Namespace) -> int:
    from app.deployments import describe, set_ramping

    async def work(client: Client, deployment: str) -> DeploymentStatus:
        stop = args.percentage == 0
        await set_ramping(client, deployment, None if stop else args.build_id, args.percentage)
        return await describe(client, deployment)

    _print_status(_run(args, work), False)
    return 0


def _promote(args: argparse.Namespace) -> int:
    from app.deployments import describe, promote

    async def work(client: Client, deployment: str) -> DeploymentStatus:
        await promote(client, deployment, args.build_id)
        return await describe(client, deployment)

    _print_status(_run(args, work), False)
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from app.deployments import describe, rollback

    async def work(client: Client, deployment: str) -> DeploymentStatus:
        await rollback(client, deployment, args.build_id)
        return await describe(client, deployment)

    _print_status(_run(args, work), False)
    return 0
