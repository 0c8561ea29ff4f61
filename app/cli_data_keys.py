"""`aiaas data-key rotate|status --tenant ID`: rotate a tenant's data key for its sealed transcripts, from the
terminal (an operator's way to `POST /v1/keys/rotations`).

`rotate` starts `KeyRotationWorkflow` (one per tenant; when one runs it reports that one) and audits the
request as `cli:<user>`; `--seal-only` keeps the active version and only seals rows still in clear (after an
upgrade). `status` prints the running or last rotation's progress as JSON.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import TYPE_CHECKING, Any

from app.cli_context import add_data_dir, load_settings, require_database, run_database

if TYPE_CHECKING:
    from core.settings import Settings


def add_data_key_parser(subparsers: Any) -> None:
    keys = subparsers.add_parser("data-key", help="rotate a tenant's data key and re-encrypt its transcripts")
    actions = keys.add_subparsers(dest="data_key_command", required=True)
    rotate = actions.add_parser("rotate", help="start a key rotation (re-encryption runs in the background)")
    rotate.add_argument("--tenant", required=True, help="the tenant's id (see `aiaas tenant list`)")
    rotate.add_argument("--seal-only", action="store_true", help="keep the key version; seal rows still in clear")
    rotate.add_argument("--batch-size", type=int, default=200, help="rows per re-encryption transaction, 1-1000")
    add_data_dir(rotate)
    rotate.set_defaults(func=_rotate)
    status = actions.add_parser("status", help="print the running or last rotation's progress as JSON")
    status.add_argument("--tenant", required=True, help="the tenant's id (see `aiaas tenant list`)")
    add_data_dir(status)
    status.set_defaults(func=_status)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.data_dir)
    require_database(settings)
    return settings


async def _start(settings: Settings, tenant_id: str, seal_only: bool, batch_size: int) -> dict[str, Any]:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from contracts.key_rotation import KeyRotationInput, rotation_workflow_id
    from contracts.names import WF_KEY_ROTATION
    from db.codec import connect
    from db.database import Database
    from tenancy.audit import record_event

    client = await connect(settings)
    workflow_id = rotation_workflow_id(tenant_id)
    inp = KeyRotationInput(
        tenant_id=tenant_id,
        actor=_actor(),
        new_version=not seal_only,
        settle_seconds=settings.data_key_cache_seconds,
        batch_size=batch_size,
    )
    try:
        await client.start_workflow(WF_KEY_ROTATION, inp, id=workflow_id, task_queue=settings.task_queue)
    except WorkflowAlreadyStartedError:
        return {"workflow_id": workflow_id, "started": False}
    db = Database(settings.resolved_app_database_url(), pool_size=1)
    try:
        async with db.tenant_session(tenant_id) as session:
            await record_event(
                session,
                tenant_id=tenant_id,
                actor=inp.actor,
                action="keys.rotation_requested",
                target=workflow_id,
                details={"new_version": inp.new_version},
            )
    finally:
        await db.close()
    return {"workflow_id": workflow_id, "started": True}


async def _progress(settings: Settings, tenant_id: str) -> dict[str, Any]:
    from contracts.key_rotation import KeyRotationProgress, rotation_workflow_id
    from db.codec import connect

    client = await connect(settings)
    handle = client.get_workflow_handle(rotation_workflow_id(tenant_id))
    described = await handle.describe()
    progress = await handle.query("progress", result_type=KeyRotationProgress)
    state = described.status.name.lower() if described.status else "running"
    return {"workflow_id": handle.id, "status": state, "progress": progress.model_dump()}


def _rotate(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= 1000:
        raise RuntimeError("--batch-size must be 1 to 1000")
    settings = _settings(args)
    print(json.dumps(run_database(_start(settings, args.tenant, args.seal_only, args.batch_size), "start it")))
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(json.dumps(run_database(_progress(settings, args.tenant), "read the rotation")))
    return 0
