"""`/console/drift` and `/console/evals`: the nightly drift reports (findings, cost change, advice) and the
eval runs with their per-task verdicts, through the `/v1/drift` and `/v1/evals` functions. A report's advice
is applied with one click, as the API's `POST .../advice/{n}/apply`, with that call's permission (which depends
on the change: `tenant:write` for safe mode, `agents:manage` for router changes) and audit entry.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import RedirectResponse

from api.routes.drift import MAX_ADVICE, DriftReader, apply_drift_advice, list_drift_reports, read_drift_report
from api.routes.evals import EvalReader, list_eval_runs, read_eval_run
from console.pages.conversations import Cursor, page_request
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, ViewerDep, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

Id = Annotated[str, Path(max_length=36)]


@router.get("/drift")
async def drift(
    viewer: ViewerDep,
    detected: Annotated[Literal["", "true", "false"] | None, Query()] = None,
    cursor: Cursor = None,
) -> Response:
    principal = await viewer.check(DriftReader)
    wanted = None if not detected else detected == "true"
    page = await list_drift_reports(principal, viewer.state, page_request(viewer, cursor), wanted)
    return render(viewer, viewer.request, "drift.html", page=page, detected=wanted)


@router.get("/drift/{report_id}")
async def drift_report(report_id: Id, viewer: ViewerDep) -> Response:
    principal = await viewer.check(DriftReader)
    report = await read_drift_report(report_id, principal, viewer.state)
    return render(viewer, viewer.request, "drift_report.html", report=report)


@router.post("/drift/{report_id}/advice/{n}/apply")
async def apply_advice(report_id: Id, n: Annotated[int, Path(ge=0, le=MAX_ADVICE)], viewer: CsrfViewerDep) -> Response:
    principal = await viewer.check(DriftReader)
    await apply_drift_advice(report_id, n, principal, viewer.state)
    return RedirectResponse(f"{PREFIX}/drift/{report_id}", status_code=303)


@router.get("/evals")
async def evals(viewer: ViewerDep, cursor: Cursor = None) -> Response:
    principal = await viewer.check(EvalReader)
    page = await list_eval_runs(principal, viewer.state, page_request(viewer, cursor))
    return render(viewer, viewer.request, "evals.html", page=page)


@router.get("/evals/{run_id}")
async def eval_run(run_id: Id, viewer: ViewerDep) -> Response:
    principal = await viewer.check(EvalReader)
    run = await read_eval_run(run_id, principal, viewer.state, None)
    return render(viewer, viewer.request, "eval_run.html", run=run)
