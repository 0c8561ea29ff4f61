"""Operator: offboard a tenant from the console and follow its `TenantLifecycleWorkflow` to the end.

Starting is the admin API's `POST /v1/admin/tenants/{id}/offboard` function (`platform_admin`), after the
operator has typed the tenant's name (offboarding ends with a purge nobody can undo). The progress page reads
the run itself, as `GET /v1/admin/tenants/{id}` does while the tenant is offboarding: the workflow's `progress`
query while it runs (stage, workflows stopped, the export, the purge deadline) and its result once it is done,
which outlives the tenant's rows, so the page still reports the purge after the tenant is gone. htmx refreshes
the progress every two seconds while the run is open, and stops once it is closed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.deps import PlatformAdminDep
from api.errors import ApiError
from api.routes.admin_tenants import OffboardRequest, offboard, read
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, Viewer, ViewerDep, render
from contracts.lifecycle import LifecycleProgress, Stage, TenantLifecycleResult, lifecycle_workflow_id
from workflows.tenant_lifecycle import TenantLifecycleWorkflow

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

STAGES = [s.value for s in Stage]
_DAY = 24 * 3600


@router.post("/tenants/{tenant_id}/offboard")
async def start(
    tenant_id: uuid.UUID,
    viewer: CsrfViewerDep,
    confirm_name: Annotated[str, Form(max_length=200)] = "",
    retention_days: Annotated[float, Form(ge=0, le=3650)] = 30,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    principal = await viewer.check(PlatformAdminDep)
    state = viewer.state
    tenant = await read(tenant_id, principal, state)
    if confirm_name.strip() != tenant.name:
        raise ApiError(422, "confirmation_required", "type the tenant's name exactly to offboard it")
    try:
        body = OffboardRequest(retention_seconds=round(retention_days * _DAY), reason=reason.strip() or None)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", "the retention period is out of range") from exc
    await offboard(tenant_id, principal, state, body)
    return RedirectResponse(f"{PREFIX}/tenants/{tenant_id}/offboarding", status_code=303)


async def _run(viewer: Viewer, tenant_id: str) -> dict[str, Any]:
    """What the run says now: its state, the progress (running) or the result (completed)."""
    handle = viewer.state.temporal.get_workflow_handle_for(
        TenantLifecycleWorkflow.run, lifecycle_workflow_id(tenant_id)
    )
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "offboarding_not_found", "this tenant has not been offboarded") from exc
        raise ApiError(503, "engine_unavailable", "the workflow engine did not answer; retry shortly") from exc
    status = described.status or WorkflowExecutionStatus.RUNNING
    progress: LifecycleProgress | None = None
    result: TenantLifecycleResult | None = None
    if status == WorkflowExecutionStatus.COMPLETED:
        result = await handle.result()
        progress = LifecycleProgress(
            tenant_id=tenant_id, stage=Stage.PURGED, workflows_stopped=result.workflows_stopped,
            export=result.export, purge=result.purge,
        )  # fmt: skip
    elif status == WorkflowExecutionStatus.RUNNING:
        try:
            progress = await handle.query(TenantLifecycleWorkflow.progress)
        except RPCError:
            progress = None  # no worker has picked the run up yet
    return {
        "state": status.name.lower(),
        "open": status == WorkflowExecutionStatus.RUNNING,
        "progress": progress,
        "result": result,
        "started_at": described.start_time,
        "closed_at": described.close_time,
    }


@router.get("/tenants/{tenant_id}/offboarding")
async def progress(tenant_id: uuid.UUID, viewer: ViewerDep) -> Response:
    principal = await viewer.check(PlatformAdminDep)
    state = viewer.state
    tid = str(tenant_id)
    run = await _run(viewer, tid)
    name = ""
    try:
        name = (await read(tenant_id, principal, state)).name
    except ApiError as exc:
        if exc.status != 404:
            raise  # once purged the tenant is gone, and the run's result is what is left
    stage = run["progress"].stage.value if run["progress"] else "starting"
    context: dict[str, Any] = {
        "tenant_id": tid,
        "name": name,
        "run": run,
        "stage": stage,
        "stages": STAGES,
        "done": STAGES[: STAGES.index(stage)],
        "rows": _rows(run["progress"]),
        "run_url": viewer.run_url(lifecycle_workflow_id(tid)),
        "now": datetime.now().astimezone(),
    }
    # htmx's refresh swaps only the progress block; a plain visit gets the whole page.
    template = "_offboarding.html" if viewer.request.headers.get("HX-Request") else "offboarding.html"
    return render(viewer, viewer.request, template, **context)


def _rows(progress: LifecycleProgress | None) -> dict[str, list[tuple[str, int]]]:
    if progress is None:
        return {"export": [], "purge": []}
    # Only the tables that held something: a small tenant has rows in a handful of some fifty tables.
    export = sorted((t, n) for t, n in (progress.export.rows if progress.export else {}).items() if n)
    purge = sorted((t, n) for t, n in (progress.purge.rows if progress.purge else {}).items() if n)
    return {"export": export, "purge": purge}
