"""Starting a router canary and steering it, for the API and the CLI alike.

`start` checks the request against the tenant (a model in the catalog and in its data region, not
forbidden, not already the tier's model, no pinned model that would starve it; an agent version the tenant
has and not already active; a threshold not already the tenant's), then in one transaction
stores the canary, audits it and starts its `CanaryWorkflow`: a failed start leaves no canary behind, and a
second canary while one is open is refused (`CanaryConflict`). `steer` sends `approve` or `abort` as a
workflow update and answers with the canary as it is afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from contracts.canary import (
    AgentVersionSubject,
    CanaryInput,
    CanaryRequest,
    CanaryStatus,
    ModelSubject,
    RouterThresholdSubject,
)
from contracts.names import WF_ROUTER_CANARY
from contracts.search_attributes import TENANT_ID
from db.database import Database
from router import canary_store, settings_store
from router.canary_store import StoredCanary
from router.catalog import Catalog
from tenancy.audit import record_event


class CanaryRefused(ValueError):
    """The request is valid in form but not for this tenant (422)."""


class CanaryBlocked(RuntimeError):
    """The tenant's state forbids a canary now (409)."""


class CanarySubjectNotFound(LookupError):
    """The agent or its version does not exist for this tenant (404)."""


# (session, agent, version) -> the agent's active version; `LookupError` when the tenant has no such version.
ActiveVersion = Callable[[AsyncSession, str, int], Awaitable[int]]


async def _no_agents(session: AsyncSession, agent: str, version: int) -> int:
    raise CanarySubjectNotFound(f"no agent {agent!r} version {version}")


Subject = ModelSubject | AgentVersionSubject | RouterThresholdSubject


async def start(
    db: Database,
    temporal: Client,
    catalog: Catalog,
    *,
    tenant_id: str,
    actor: str,
    request: CanaryRequest,
    operator_models: dict[str, str],
    task_queue: str,
    active_version: ActiveVersion = _no_agents,
) -> StoredCanary:
    """`operator_models`: the platform's model per tier, the control when the tenant has none of its own;
    `active_version`: how an agent-version canary's agent and version are checked (the API and the CLI pass
    `agents.activation.active_version`)."""
    routing = await settings_store.load(db, tenant_id)
    subject: Subject = request.target
    tier = control = ""
    if isinstance(subject, ModelSubject):
        tier, control = _check_model(catalog, routing, request, subject, operator_models)
    elif isinstance(subject, AgentVersionSubject):
        try:
            async with db.tenant_session(tenant_id) as session:
                active = await active_version(session, subject.agent, subject.version)
        except LookupError as exc:
            raise CanarySubjectNotFound(f"no agent {subject.agent!r} version {subject.version}") from exc
        if active == subject.version:
            raise CanaryRefused(f"version {subject.version} is already the agent's active version")
        subject = subject.model_copy(update={"control_version": active})
    else:
        if routing.settings.pinned_model is not None:
            raise CanaryBlocked("the tenant pins a model, so no threshold decides its turns")
        if routing.settings.threshold == subject.threshold:
            raise CanaryRefused("the threshold is already the tenant's")
    canary_id = canary_store.new_id()
    stored = StoredCanary(
        tenant_id=tenant_id,
        id=canary_id,
        model=subject.model if isinstance(subject, ModelSubject) else "",
        tier=tier,
        share=request.share,
        control_model=control,
        require_approval=request.require_approval,
        rule=request.rule,
        status=CanaryStatus.RUNNING,
        reason="",
        last_check=None,
        checks=0,
        created_by=actor,
        decided_by="",
        workflow_id=canary_store.workflow_id(tenant_id, canary_id),
        created_at=datetime.now(UTC),
        finished_at=None,
        subject=subject,
    )
    async with db.tenant_session(tenant_id) as session:
        await canary_store.create(session, stored)
        await record_event(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="router.canary_started",
            target=f"router_canary:{canary_id}",
            details={
                "kind": subject.kind,
                "subject": subject.model_dump(exclude={"kind"}),
                "model": stored.model,
                "tier": tier,
                "share": request.share,
                "approval": request.require_approval,
            },
        )
    # Started once the row is committed: the run's first step reads it, and a run started inside the
    # transaction could read before the commit and end at once (CanaryNotFound), leaving the row running.
    try:
        await temporal.start_workflow(
            WF_ROUTER_CANARY,
            CanaryInput(
                tenant_id=tenant_id,
                canary_id=canary_id,
                require_approval=request.require_approval,
                check_every=timedelta(minutes=request.check_every_minutes),
                max_duration=timedelta(hours=request.max_duration_hours),
                approval_timeout=timedelta(hours=request.approval_timeout_hours),
            ),
            id=stored.workflow_id,
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT_ID, tenant_id)]),
        )
    except Exception:
        async with db.tenant_session(tenant_id) as session:
            await canary_store.finish(
                session, canary_id, CanaryStatus.ROLLED_BACK, "its workflow could not start", actor
            )
        raise
    return stored


def _check_model(
    catalog: Catalog,
    routing: settings_store.TenantRouting,
    request: CanaryRequest,
    subject: ModelSubject,
    operator_models: dict[str, str],
) -> tuple[str, str]:
    """A model canary's tier and control model, once the model may run for the tenant."""
    info = catalog.require_in_region(subject.model, routing.region)
    if request.control_model is not None:
        catalog.require_in_region(request.control_model, routing.region)
    if subject.model in routing.settings.forbidden_models:
        raise CanaryRefused("the canary model is forbidden by the tenant's router settings")
    if routing.settings.pinned_model is not None:
        raise CanaryBlocked("the tenant pins a model, so no turn would be routed to a canary")
    tier = info.tier.value
    control = request.control_model or routing.settings.tier_model(tier) or operator_models.get(tier, "")
    if control == subject.model:
        raise CanaryRefused("the canary model is already the tier's model")
    return tier, control


async def read(db: Database, tenant_id: str, canary_id: str) -> StoredCanary | None:
    async with db.tenant_session(tenant_id) as session:
        return await canary_store.get(session, tenant_id, canary_id)


async def steer(db: Database, temporal: Client, tenant_id: str, canary_id: str, update: str, arg: Any) -> StoredCanary:
    """`approve` or `abort`; `LookupError` for no such canary (of this tenant), `CanaryBlocked` when it cannot."""
    current = await read(db, tenant_id, canary_id)
    if current is None:
        raise LookupError(canary_id)
    if current.status not in (CanaryStatus.RUNNING, CanaryStatus.AWAITING_APPROVAL):
        raise CanaryBlocked(f"the canary is {current.status.value}")
    handle = temporal.get_workflow_handle(current.workflow_id)
    try:
        await handle.execute_update(update, arg, result_type=str)
    except WorkflowUpdateFailedError as exc:
        raise CanaryBlocked(getattr(exc.cause, "message", None) or str(exc.cause)) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CanaryBlocked("the canary has ended") from exc
        raise
    after = await read(db, tenant_id, canary_id)
    assert after is not None
    return after
