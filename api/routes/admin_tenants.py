"""`/v1/admin/tenants`: the platform creates, lists, reads, changes, suspends, resumes and offboards tenants.

Platform administrators only (a JWT carrying `platform_role: platform_admin`); a tenant's own credentials
get 403 here whatever their role. Every change is recorded in the tenant's audit chain with the
administrator as the actor. Offboarding answers 202 with the id of the `TenantLifecycleWorkflow` that carries
it out; its progress shows in `GET /v1/admin/tenants/{id}` and in Temporal UI.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError

from api.deps import PlatformAdminDep, StateDep
from api.errors import ApiError
from api.pagination import Page, PageDep
from api.routes.tenant import TenantOut
from commerce.demo import seed_demo
from contracts.lifecycle import (
    DEFAULT_RETENTION,
    MAX_RETENTION,
    LifecycleProgress,
    TenantLifecycleInput,
    lifecycle_workflow_id,
)
from contracts.search_attributes import TENANT_ID
from tenancy.lifecycle import DEFAULT_DATA_REGION, TenantStatus, validate_region
from tenancy.principal import Principal
from tenancy.tenant_admin import (
    MAX_PAGE,
    TenantAdminError,
    TenantNotFound,
    TransitionRefused,
    change_status,
    create_tenant,
    get_tenant,
    list_tenants,
    update_tenant,
)
from tenancy.tenants import MAX_NAME_CHARS
from workflows.tenant_lifecycle import TenantLifecycleWorkflow

router = APIRouter(prefix="/v1/admin/tenants", tags=["admin"])

TenantId = Annotated[uuid.UUID, Path(description="the tenant's id")]
# db.tables.PLANS, spelled out so the API schema lists them.
Plan = Literal["free", "pro", "enterprise"]
_QUERY_TIMEOUT = timedelta(seconds=5)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    plan: Plan = "free"
    data_region: str = Field(default=DEFAULT_DATA_REGION, description="where the tenant's data lives; fixed")
    demo: bool = Field(default=False, description="also seed the demo commerce world for trying the agents")

    @field_validator("data_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return validate_region(value)


class DemoWorld(BaseModel):
    customers: dict[str, str] = Field(description="customer ids by name (`ada`, `bob`)")
    orders: dict[str, str] = Field(description="order ids by label (`ada.placed`, `bob.shipped`, ...)")
    skus: list[str]


class TenantCreated(BaseModel):
    tenant: TenantOut
    api_key: str = Field(description="the owner's first API key; shown only in this response")
    demo: DemoWorld | None = Field(default=None, description="the seeded demo world, when `demo` was asked for")


class AdminTenantUpdate(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)
    plan: Plan | None = None


class StatusChange(_Strict):
    reason: str | None = Field(default=None, max_length=500)


class OffboardRequest(StatusChange):
    retention_seconds: int = Field(
        default=int(DEFAULT_RETENTION.total_seconds()),
        ge=0,
        le=int(MAX_RETENTION.total_seconds()),
        description="how long the export is kept before the tenant's data is purged",
    )


class TenantDetail(TenantOut):
    lifecycle: LifecycleProgress | None = None


class OffboardAccepted(BaseModel):
    tenant: TenantOut
    workflow_id: str


def _actor(principal: Principal) -> str:
    return f"platform:{principal.subject}"


def _refusal(exc: TenantAdminError) -> ApiError:
    if isinstance(exc, TenantNotFound):
        return ApiError(404, "tenant_not_found", "no such tenant")
    if isinstance(exc, TransitionRefused):
        return ApiError(409, "invalid_transition", str(exc), {"status": exc.current, "requested": exc.target})
    return ApiError(409, "conflict", str(exc))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TenantCreated)
async def create(body: TenantCreate, principal: PlatformAdminDep, state: StateDep) -> TenantCreated:
    try:
        created = await create_tenant(
            state.db,
            name=body.name,
            plan=body.plan,
            data_region=body.data_region,
            pepper=state.settings.api_key_pepper.get_secret_value(),
            actor=_actor(principal),
        )
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    demo = None
    if body.demo:
        demo = DemoWorld.model_validate((await seed_demo(state.db, created.record.id)).summary())
    return TenantCreated(tenant=TenantOut.of(created.record), api_key=created.api_key, demo=demo)


@router.get("", response_model=Page[TenantOut])
async def list_all(
    _principal: PlatformAdminDep,
    state: StateDep,
    page: PageDep,
    status_filter: Annotated[TenantStatus | None, Query(alias="status")] = None,
) -> Page[TenantOut]:
    """Every tenant, oldest first."""
    scope = page.scope("admin-tenants", None, status=status_filter)
    # The store's own position (`tenancy.tenant_admin`) travels inside this listing's signed cursor.
    after = page.after(scope, str)
    try:
        found = await list_tenants(
            state.db, status=status_filter, cursor=after[0] if after else None, limit=min(page.limit, MAX_PAGE)
        )
    except ValueError as exc:
        raise ApiError(400, "invalid_cursor", "the cursor is not one this listing handed out") from exc
    next_cursor = page.encode(scope, (found.next_cursor,)) if found.next_cursor else None
    return Page(items=[TenantOut.of(t) for t in found.items], next_cursor=next_cursor)


@router.get("/{tenant_id}", response_model=TenantDetail)
async def read(tenant_id: TenantId, _principal: PlatformAdminDep, state: StateDep) -> TenantDetail:
    try:
        record = await get_tenant(state.db, str(tenant_id))
    except TenantAdminError as exc:
        raise _refusal(exc) from exc
    lifecycle = None
    if record.status == TenantStatus.OFFBOARDING:
        handle = state.temporal.get_workflow_handle_for(TenantLifecycleWorkflow.run, lifecycle_workflow_id(record.id))
        try:
            lifecycle = await handle.query(TenantLifecycleWorkflow.progress, rpc_timeout=_QUERY_TIMEOUT)
        except (RPCError, TimeoutError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
            lifecycle = None  # not started yet, or no worker to answer: the tenant's own fields still stand
    return TenantDetail(**TenantOut.of(record).model_dump(), lifecycle=lifecycle)


@router.patch("/{tenant_id}", response_model=TenantOut)
async def update(
    tenant_id: TenantId, body: AdminTenantUpdate, principal: PlatformAdminDep, state: StateDep
) -> TenantOut:
    try:
        record = await update_tenant(state.db, str(tenant_id), actor=_actor(principal), name=body.name, plan=body.plan)
    except TenantAdminError as exc:
        raise _refusal(exc) from exc
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    return TenantOut.of(record)


async def _move(
    state: StateDep, tenant_id: str, target: TenantStatus, principal: Principal, body: StatusChange
) -> TenantOut:
    try:
        record = await change_status(
            state.db, state.redis, tenant_id, target, actor=_actor(principal), reason=body.reason
        )
    except TenantAdminError as exc:
        raise _refusal(exc) from exc
    # This replica drops its cached principals at once, without waiting for its own broadcast to come back.
    state.authenticator.forget(tenant_id=tenant_id)
    return TenantOut.of(record)


@router.post("/{tenant_id}/suspend", response_model=TenantOut)
async def suspend(
    tenant_id: TenantId, principal: PlatformAdminDep, state: StateDep, body: StatusChange | None = None
) -> TenantOut:
    return await _move(state, str(tenant_id), TenantStatus.SUSPENDED, principal, body or StatusChange())


@router.post("/{tenant_id}/resume", response_model=TenantOut)
async def resume(
    tenant_id: TenantId, principal: PlatformAdminDep, state: StateDep, body: StatusChange | None = None
) -> TenantOut:
    return await _move(state, str(tenant_id), TenantStatus.ACTIVE, principal, body or StatusChange())


@router.post("/{tenant_id}/offboard", status_code=status.HTTP_202_ACCEPTED, response_model=OffboardAccepted)
async def offboard(
    tenant_id: TenantId, principal: PlatformAdminDep, state: StateDep, body: OffboardRequest | None = None
) -> OffboardAccepted:
    body = body or OffboardRequest()
    tid = str(tenant_id)
    try:
        await get_tenant(state.db, tid)
    except TenantAdminError as exc:
        raise _refusal(exc) from exc
    retention = timedelta(seconds=body.retention_seconds)
    workflow_id = lifecycle_workflow_id(tid)
    # The workflow first, then the status: a tenant marked offboarding with nothing to carry it out would be
    # stuck. The workflow marks the tenant itself too, and whichever comes second changes nothing.
    try:
        await state.temporal.start_workflow(
            TenantLifecycleWorkflow.run,
            TenantLifecycleInput(tenant_id=tid, retention=retention, actor=_actor(principal), reason=body.reason),
            id=workflow_id,
            task_queue=state.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT_ID, tid)]),
            static_summary=f"Offboard tenant {tid}",
        )
    except RPCError as exc:
        raise ApiError(503, "engine_unavailable", "the workflow engine did not answer; retry shortly") from exc
    try:
        record = await change_status(
            state.db,
            state.redis,
            tid,
            TenantStatus.OFFBOARDING,
            actor=_actor(principal),
            reason=body.reason,
            retention=retention,
        )
    except TenantNotFound as exc:
        raise _refusal(exc) from exc  # purged by an earlier offboarding that had already finished
    state.authenticator.forget(tenant_id=tid)
    return OffboardAccepted(tenant=TenantOut.of(record), workflow_id=workflow_id)
