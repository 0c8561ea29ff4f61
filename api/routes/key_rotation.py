"""Rotating the tenant's data key for its sealed transcripts and tool calls: `POST /v1/keys/rotations` starts
`KeyRotationWorkflow`, `GET /v1/keys/rotation` reports the current or last one.

One rotation runs at a time per tenant (its workflow id is the tenant's): asking while one runs answers 200
with that one instead of 202. Starting needs `tenant:write` and is audited; reading needs `tenant:read`. A
caller only ever sees its own tenant's rotation (there is no id to name another's).
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import DatabaseDep, SettingsDep, TemporalDep, requires
from api.errors import ApiError
from contracts.key_rotation import MAX_BATCH, KeyRotationInput, KeyRotationProgress, rotation_workflow_id
from contracts.names import WF_KEY_ROTATION
from contracts.search_attributes import TENANT_ID
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/keys", tags=["privacy"])
Reader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
Rotator = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]


class RotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # False: keep the active version, only seal rows still in clear or under older versions.
    new_version: bool = True
    batch_size: int = Field(default=200, ge=1, le=MAX_BATCH)


class RotationOut(BaseModel):
    workflow_id: str
    status: str
    progress: KeyRotationProgress


async def _describe(handle: WorkflowHandle[object, object]) -> RotationOut:
    description = await handle.describe()
    state = description.status or WorkflowExecutionStatus.RUNNING
    progress: object = KeyRotationProgress()
    # A failed or terminated run with no worker to answer its query: its status says enough.
    with contextlib.suppress(RPCError, WorkflowQueryFailedError):
        if state == WorkflowExecutionStatus.COMPLETED:
            progress = await handle.result()
        else:
            progress = await handle.query("progress", result_type=KeyRotationProgress)

    return RotationOut(
        workflow_id=handle.id, status=state.name.lower(), progress=KeyRotationProgress.model_validate(progress)
    )


async def _running(client: Client, workflow_id: str) -> bool:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return description.status == WorkflowExecutionStatus.RUNNING


@router.post(
    "/rotations",
    response_model=RotationOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={status.HTTP_200_OK: {"model": RotationOut, "description": "a rotation already running"}},
)
async def start_rotation(
    body: RotationIn,
    principal: Rotator,
    db: DatabaseDep,
    client: TemporalDep,
    settings: SettingsDep,
    response: Response,
) -> RotationOut:
    """Add a data key version and re-encrypt every transcript and tool call under it in the background."""
    tenant_id = principal.tenant_id
    workflow_id = rotation_workflow_id(tenant_id)
    if await _running(client, workflow_id):
        response.status_code = status.HTTP_200_OK
        return await _describe(client.get_workflow_handle(workflow_id))
    try:
        handle = await client.start_workflow(
            WF_KEY_ROTATION,
            KeyRotationInput(
                tenant_id=tenant_id,
                actor=principal.subject,
                new_version=body.new_version,
                settle_seconds=settings.data_key_cache_seconds,
                batch_size=body.batch_size,
            ),
            id=workflow_id,
            task_queue=settings.task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT_ID, tenant_id)]),
        )
    except WorkflowAlreadyStartedError:  # a concurrent request started it first
        response.status_code = status.HTTP_200_OK
        return await _describe(client.get_workflow_handle(workflow_id))
    async with db.tenant_session(tenant_id) as session:
        await record_event(
            session,
            tenant_id=tenant_id,
            actor=principal.subject,
            action="keys.rotation_requested",
            target=workflow_id,
            details={"run_id": handle.result_run_id or "", "new_version": body.new_version},
        )
    return RotationOut(workflow_id=workflow_id, status="running", progress=KeyRotationProgress())


@router.get("/rotation", response_model=RotationOut)
async def get_rotation(principal: Reader, client: TemporalDep) -> RotationOut:
    """The tenant's running or last key rotation: its phase and how many rows it re-encrypted."""
    handle = client.get_workflow_handle(rotation_workflow_id(principal.tenant_id))
    try:
        return await _describe(handle)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "rotation_not_found", "this tenant has not rotated its key") from None
        raise
