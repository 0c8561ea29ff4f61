"""`/console/webhooks`: the tenant's webhook endpoints (register one, its secret shown once; send a test
ping), and the delivery log with each delivery's attempts and a redeliver button, through the
`/v1/webhooks` functions.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.errors import ApiError
from api.routes.webhooks import (
    EndpointIn,
    EndpointWithSecret,
    Reader,
    Writer,
    create,
    list_deliveries,
    list_endpoints,
    ping,
    read_delivery,
    redeliver,
)
from console.pages.conversations import Cursor, page_request
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, Viewer, ViewerDep, render
from contracts.webhooks import WebhookEventType

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


async def _page(
    viewer: Viewer, endpoint: uuid.UUID | None, cursor: str | None, created: EndpointWithSecret | None, code: int = 200
) -> Response:
    principal = await viewer.check(Reader)
    state = viewer.state
    endpoints = await list_endpoints(principal, state, page_request(viewer, None, 200))
    deliveries = await list_deliveries(principal, state, page_request(viewer, cursor), endpoint)
    return render(
        viewer,
        viewer.request,
        "webhooks.html",
        code,
        endpoints=endpoints.items,
        deliveries=deliveries,
        endpoint=str(endpoint) if endpoint else "",
        created=created,
        event_types=[t.value for t in WebhookEventType],
    )


@router.get("/webhooks")
async def webhooks(
    viewer: ViewerDep, endpoint_id: Annotated[uuid.UUID | None, Query()] = None, cursor: Cursor = None
) -> Response:
    return await _page(viewer, endpoint_id, cursor, None)


@router.post("/webhooks")
async def register(
    viewer: CsrfViewerDep,
    url: Annotated[str, Form(max_length=2048)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    event_types: Annotated[list[str] | None, Form()] = None,
) -> Response:
    principal = await viewer.check(Writer)
    try:
        body = EndpointIn.model_validate(
            {"url": url.strip(), "description": description, "event_types": event_types or []}
        )
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e.get("loc", ["?"])[0]) for e in exc.errors()}))
        raise ApiError(422, "invalid_request", f"invalid value for: {fields}") from exc
    created = await create(body, principal, viewer.state)
    return await _page(viewer, None, None, created, 201)


@router.post("/webhooks/endpoints/{endpoint_id}/test")
async def test_ping(endpoint_id: uuid.UUID, viewer: CsrfViewerDep) -> Response:
    principal = await viewer.check(Writer)
    await ping(endpoint_id, principal, viewer.state)
    return RedirectResponse(f"{PREFIX}/webhooks?endpoint_id={endpoint_id}", status_code=303)


@router.get("/webhooks/deliveries/{delivery_id}")
async def delivery(delivery_id: uuid.UUID, viewer: ViewerDep) -> Response:
    principal = await viewer.check(Reader)
    found = await read_delivery(delivery_id, principal, viewer.state)
    # The attempts as JSON for display: their times are datetimes, which the template's `tojson` cannot take.
    attempts = found.model_dump(mode="json")["log"] or []
    return render(viewer, viewer.request, "webhook_delivery.html", delivery=found, attempts=attempts)


@router.post("/webhooks/deliveries/{delivery_id}/redeliver")
async def resend(delivery_id: uuid.UUID, viewer: CsrfViewerDep) -> Response:
    principal = await viewer.check(Writer)
    again = await redeliver(delivery_id, principal, viewer.state)
    return RedirectResponse(f"{PREFIX}/webhooks/deliveries/{again.id}", status_code=303)
