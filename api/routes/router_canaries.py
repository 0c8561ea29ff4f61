"""`/v1/router/canaries`: put a model on trial for a share of the tenant's conversations, watch, decide.

`POST` starts a canary (`CanaryWorkflow`): `model` (in the model catalog, in the tenant's data region, not
forbidden) answers `share` of the tenant's conversations routed to its tier, the same conversations every
turn; or `subject` names what is tried: a model the same way, an agent version (`{"kind": "agent_version",
"agent", "version"}`: that share of the agent's conversations resolves it instead of the active version; an
unknown agent or version, another tenant's included, is 404 `agent_not_found`) or a routing threshold
(`{"kind": "router_threshold", "threshold": 0<t<1}`: that share routes with it). The workflow compares the
canary's conversations with the others every `check_every_minutes` (error rate, latency, cost, and eval pass
rate when eval runs pinned to both arms exist) and promotes the subject (a model becomes the tenant's model
for its tier, an agent version its active one, a threshold its own) or rolls it back; with
`require_approval`, a promotion waits for `POST .../approve`. `POST .../abort` rolls it back at any time. One
canary runs per tenant at a time (409 `canary_running`). Starting, approving and aborting need
`tenant:write` and are audited; reading needs `tenant:read`. Another tenant's canary id answers 404. The rule
is in docs/router-canaries.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field
from temporalio.service import RPCError

from agents.activation import active_version
from agents.definitions import pinned_agent_names
from api.deps import StateDep, TemporalDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from api.routes.router_settings import not_in_region
from contracts.canary import CanaryAbort, CanaryApproval, CanaryRequest, CanaryRule, CanaryStatus, CanarySubject
from router import canary_start, canary_store
from router.canary_start import CanaryBlocked, CanaryRefused, CanarySubjectNotFound
from router.canary_store import CanaryConflict, StoredCanary
from router.catalog import ModelNotInRegion, catalog_at
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/router/canaries", tags=["router"])

Reader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
Writer = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]
CanaryId = Annotated[uuid.UUID, Path(description="the canary's id")]


class CanaryOut(BaseModel):
    id: str
    subject: CanarySubject = Field(description="what the canary tries: a model, an agent version or a threshold")
    model: str
    tier: str
    share: float
    control_model: str
    require_approval: bool
    rule: CanaryRule
    status: CanaryStatus
    reason: str
    checks: int
    last_check: dict[str, Any] | None = Field(description="the last comparison: decision, reason, arms, metrics")
    created_by: str
    decided_by: str
    created_at: datetime
    finished_at: datetime | None


class CanaryAbortIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="aborted", min_length=1, max_length=500)


def _out(c: StoredCanary) -> CanaryOut:
    return CanaryOut(**{k: getattr(c, k) for k in CanaryOut.model_fields})


def _not_found() -> ApiError:
    return ApiError(404, "canary_not_found", "no such router canary")


@router.post("", response_model=CanaryOut, status_code=status.HTTP_202_ACCEPTED)
async def start_canary(body: CanaryRequest, principal: Writer, state: StateDep, temporal: TemporalDep) -> CanaryOut:
    settings = state.settings
    try:
        stored = await canary_start.start(
            state.db,
            temporal,
            catalog_at(settings.router_catalog),
            tenant_id=principal.tenant_id,
            actor=principal.subject or "api",
            request=body,
            operator_models={"small": settings.model_small or "", "large": settings.model_large or ""},
            task_queue=settings.task_queue,
            active_version=partial(active_version, pinned=pinned_agent_names(settings)),
        )
    except CanarySubjectNotFound as exc:
        raise ApiError(404, "agent_not_found", str(exc)) from exc
    except ModelNotInRegion as exc:
        raise not_in_region(exc) from exc
    except CanaryRefused as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    except CanaryConflict as exc:
        raise ApiError(409, "canary_running", str(exc)) from exc
    except CanaryBlocked as exc:
        raise ApiError(409, "conflict", str(exc)) from exc
    except RPCError as exc:  # its run did not start: the canary is closed again (`canary_start.start`)
        raise ApiError(503, "engine_unavailable", "the workflow engine did not answer; retry shortly") from exc
    return await _read(state, principal.tenant_id, stored.id)


async def _read(state: StateDep, tenant_id: str, canary_id: str) -> CanaryOut:
    found = await canary_start.read(state.db, tenant_id, canary_id)
    if found is None:
        raise _not_found()
    return _out(found)


@router.get("", response_model=Page[CanaryOut])
async def list_canaries(principal: Reader, state: StateDep, page: PageDep) -> Page[CanaryOut]:
    scope = page.scope("router_canaries", principal.tenant_id)
    after = page.after(scope, datetime, str)
    before = (after[0], str(after[1])) if after and isinstance(after[0], datetime) else None
    async with state.db.tenant_session(principal.tenant_id) as session:
        rows = await canary_store.list_page(session, principal.tenant_id, before=before, limit=page.limit + 1)
    return page.of([_out(r) for r in rows], scope, key=lambda r: (r.created_at, r.id))


@router.get("/{canary_id}", response_model=CanaryOut)
async def read_canary(canary_id: CanaryId, principal: Reader, state: StateDep) -> CanaryOut:
    return await _read(state, principal.tenant_id, str(canary_id))


async def _steer(
    state: StateDep, temporal: TemporalDep, tenant_id: str, canary_id: str, name: str, arg: Any
) -> CanaryOut:
    try:
        return _out(await canary_start.steer(state.db, temporal, tenant_id, canary_id, name, arg))
    except LookupError as exc:
        raise _not_found() from exc
    except CanaryBlocked as exc:
        raise ApiError(409, "conflict", str(exc)) from exc


@router.post("/{canary_id}/approve", response_model=CanaryOut)
async def approve_canary(canary_id: CanaryId, principal: Writer, state: StateDep, temporal: TemporalDep) -> CanaryOut:
    """Promote a canary whose comparison found it no worse than tolerated (status `awaiting_approval`)."""
    approval = CanaryApproval(actor=principal.subject or "api")
    return await _steer(state, temporal, principal.tenant_id, str(canary_id), "approve", approval)


@router.post("/{canary_id}/abort", response_model=CanaryOut)
async def abort_canary(
    canary_id: CanaryId, principal: Writer, state: StateDep, temporal: TemporalDep, body: CanaryAbortIn | None = None
) -> CanaryOut:
    """Roll the canary back now."""
    abort = CanaryAbort(actor=principal.subject or "api", reason=body.reason if body else "aborted")
    return await _steer(state, temporal, principal.tenant_id, str(canary_id), "abort", abort)
