"""Admission as request dependencies: the gate every authenticated /v1 HTTP route runs, and what a route
reads of it.

`AdmitRequest` goes on the /v1 router (`api.v1`). It reuses the principal the route's own authorization
resolves (FastAPI solves a dependency once per request), so authentication runs once. Platform principals
(operators acting on the platform, not for a tenant) have no plan and are not limited.

`AdmittedDep` is the same dependency seen from a route: FastAPI hands the route the gate's cached result
rather than running the gate again, so a route reads the plan admission judged the request by.
`AdmissionDep` hands a route the `Admission` itself, for the per-message checks of a message POST.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.requests import HTTPConnection

from api.admission.decide import Admission, Admitted
from api.deps import _principal, authorize
from tenancy.principal import Principal, TenantPrincipal


def admission_of(connection: HTTPConnection) -> Admission:
    """The gateway's admission, for an HTTP request or a WebSocket alike."""
    admission: Admission = connection.app.state.admission
    return admission


async def admit_request(request: Request, principal: Annotated[Principal, Depends(_principal)]) -> Admitted | None:
    """Shedding and rate limits for a tenant's request; None for a platform principal, which is not limited."""
    if isinstance(principal, TenantPrincipal):
        return await admission_of(request).limit(request, principal)
    return None


async def admitted_request(
    admitted: Annotated[Admitted | None, Depends(admit_request)],
    principal: Annotated[Principal, Depends(_principal)],
) -> Admitted:
    if admitted is None:
        # The gate judges tenants only; a platform principal on a route that needs a tenant's plan is refused
        # like on any other tenant-only route.
        authorize(principal)
        raise RuntimeError("a tenant's request reached its route unjudged")
    return admitted


AdmitRequest = Depends(admit_request)
AdmittedDep = Annotated[Admitted, Depends(admitted_request)]
AdmissionDep = Annotated[Admission, Depends(admission_of)]
