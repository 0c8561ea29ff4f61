"""How admission sits in the gateway: built in the lifespan, run by a dependency on every /v1 router.

The app class includes every router under /v1 with the `admit_request` dependency, which reuses the
principal the route's own authorization resolves (FastAPI caches it per request), so authentication runs
once. `AdmissionDep` hands routes the `Admission` itself, for the per-message checks of a message POST.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIWebSocketRoute

from api.admission.decide import Admission
from api.deps import _principal
from api.state import GatewayState
from policies.cost_guard import CostGuard
from policies.ledger import month_tokens
from policies.load_shedding import BacklogSampler, Shedder, policy_from
from tenancy.principal import Principal, TenantPrincipal


@asynccontextmanager
async def admission_lifespan(app: FastAPI) -> AsyncIterator[Admission]:
    """Admission for as long as the gateway runs, with the backlog sampler that drives load shedding.

    Runs inside the app's lifespan, once the gateway state exists."""
    state: GatewayState = app.state.gateway
    settings = state.settings
    shedder = Shedder(
        policy_from(
            settings.shed_backlog_counts,
            settings.shed_backlog_age_seconds,
            settings.shed_recover_ratio,
            settings.shed_recover_samples,
        )
    )
    guard = CostGuard(state.db, state.redis, state.bus, mode_cache_seconds=settings.budget_mode_cache_seconds)
    admission = Admission(settings, state.redis, state.db, shedder, budget=guard, month_tokens=month_tokens)
    app.state.admission = admission
    sampler = BacklogSampler(
        state.temporal, settings.temporal_namespace, settings.task_queue, shedder, settings.shed_sample_seconds
    )
    async with sampler.running():
        yield admission


class GatewayApp(FastAPI):
    """The gateway's FastAPI app: every router under /v1 it includes gets admission on its HTTP routes.

    WebSocket routes go in without it: they accept before they authenticate (so a refusal reaches the
    client as a close reason), which leaves no principal for a dependency to limit."""

    def include_router(self, router: APIRouter, **kwargs: Any) -> None:
        if not (kwargs.get("prefix") or router.prefix).startswith("/v1/"):
            super().include_router(router, **kwargs)
            return
        admitted = {**kwargs, "dependencies": [AdmitRequest, *(kwargs.get("dependencies") or ())]}
        sockets = [route for route in router.routes if isinstance(route, APIWebSocketRoute)]
        if not sockets:
            super().include_router(router, **admitted)
            return
        http, plain = APIRouter(), APIRouter()
        http.routes.extend(route for route in router.routes if not isinstance(route, APIWebSocketRoute))
        plain.routes.extend(sockets)
        super().include_router(http, **admitted)
        super().include_router(plain, **kwargs)


def admission_of(request: Request) -> Admission:
    admission: Admission = request.app.state.admission
    return admission


async def admit_request(request: Request, principal: Annotated[Principal, Depends(_principal)]) -> None:
    """Router dependency for every authenticated /v1 route. Platform principals (operators acting on the
    platform, not for a tenant) have no plan and are not limited."""
    if isinstance(principal, TenantPrincipal):
        await admission_of(request).limit(request, principal)


AdmitRequest = Depends(admit_request)
AdmissionDep = Annotated[Admission, Depends(admission_of)]
