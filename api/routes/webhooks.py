"""`/v1/webhooks`: a tenant's webhook endpoints, their secrets, the delivery log, redelivery and a test ping.

Creating an endpoint (and rotating its secret) is the only time the `whsec_` secret is shown; it is stored
sealed under the tenant's data key (`webhooks.secrets`). The old secret keeps signing beside the new one for
24 hours after a rotation. The URL is checked against internal addresses
(SSRF) at registration and again at every attempt. Another tenant's ids read as 404: row-level security hides
them. Writes need `tenant:write` and are audited; reads need `tenant:read`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import StateDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from contracts.webhooks import WebhookDeliveryInput, WebhookEventType
from core.crypto.secretbox import build_keyring
from db.ids import new_id
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal
from webhooks import management, store
from webhooks.secrets import EndpointSecrets
from webhooks.starter import start_delivery
from webhooks.targets import MAX_URL_CHARS, TargetRefused, check_target

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

Reader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
Writer = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]
Id = Annotated[uuid.UUID, Path()]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    description: str = Field(default="", max_length=500)
    # Empty: every event type.
    event_types: list[WebhookEventType] = Field(default_factory=list, max_length=len(WebhookEventType))


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_CHARS)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[WebhookEventType] | None = Field(default=None, max_length=len(WebhookEventType))
    enabled: bool | None = None


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, e: store.Endpoint) -> EndpointOut:
        return cls(
            id=e.id,
            url=e.url,
            description=e.description,
            event_types=e.event_types,
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            created_at=e.created_at,
        )


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="shown once; verify signatures with it (Standard Webhooks)")


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    message_id: str = Field(description="the `webhook-id` header; the same for a redelivery")
    status: str
    attempts: int
    last_status_code: int | None
    created_at: datetime
    finished_at: datetime | None
    log: list[dict[str, Any]] | None = None


def _delivery(d: store.Delivery, log: list[dict[str, Any]] | None = None) -> DeliveryOut:
    return DeliveryOut(**{k: getattr(d, k) for k in DeliveryOut.model_fields if k != "log"}, log=log)


async def _check(state: StateDep, url: str) -> None:
    try:
        await check_target(url, allow_private=state.settings.webhook_allow_private_targets)
    except TargetRefused as exc:
        raise ApiError(422, "invalid_request", str(exc), {"field": "url"}) from exc


def _secrets(state: StateDep) -> EndpointSecrets:
    return EndpointSecrets(build_keyring(state.db, state.settings))


def _missing(kind: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {kind}")


async def _audit(session: Any, principal: TenantPrincipal, action: str, target: str, **details: Any) -> None:
    await record_event(
        session, tenant_id=principal.tenant_id, actor=principal.subject, action=action, target=target, details=details
    )


@router.post("/endpoints", status_code=status.HTTP_201_CREATED, response_model=EndpointWithSecret)
async def create(body: EndpointIn, principal: Writer, state: StateDep) -> EndpointWithSecret:
    await _check(state, body.url)
    endpoint_id = new_id()
    secret, sealed = await _secrets(state).issue(principal.tenant_id, endpoint_id)
    async with state.db.tenant_session(principal.tenant_id) as session:
        e = await management.create_endpoint(
            session,
            principal.tenant_id,
            endpoint_id=endpoint_id,
            sealed_secret=sealed,
            url=body.url,
            description=body.description,
            event_types=[str(t) for t in body.event_types],
        )
        await _audit(session, principal, "webhook.endpoint_created", e.id, url=e.url)
    return EndpointWithSecret(**EndpointOut.of(e).model_dump(), secret=secret)


@router.get("/endpoints", response_model=Page[EndpointOut])
async def list_endpoints(principal: Reader, state: StateDep, page: PageDep) -> Page[EndpointOut]:
    scope = page.scope("webhook-endpoints", principal.tenant_id)
    after = page.after(scope, datetime, str)
    async with state.db.tenant_session(principal.tenant_id) as session:
        rows = await store.list_endpoints(
            session, principal.tenant_id, limit=page.limit + 1, after=(after[0], after[1]) if after else None
        )
    return page.of([EndpointOut.of(r) for r in rows], scope, key=lambda e: (e.created_at, e.id))


@router.get("/endpoints/{endpoint_id}", response_model=EndpointOut)
async def read(endpoint_id: Id, principal: Reader, state: StateDep) -> EndpointOut:
    async with state.db.tenant_session(principal.tenant_id) as session:
        e = await store.get_endpoint(session, principal.tenant_id, str(endpoint_id))
    if e is None:
        raise _missing("endpoint")
    return EndpointOut.of(e)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointOut)
async def update(endpoint_id: Id, body: EndpointPatch, principal: Writer, state: StateDep) -> EndpointOut:
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    if "url" in changes:
        await _check(state, changes["url"])
    if "event_types" in changes:
        changes["event_types"] = [str(t) for t in changes["event_types"]]
    async with state.db.tenant_session(principal.tenant_id) as session:
        e = await management.update_endpoint(session, principal.tenant_id, str(endpoint_id), **changes)
        if e is not None:
            await _audit(session, principal, "webhook.endpoint_updated", e.id, fields=sorted(changes))
    if e is None:
        raise _missing("endpoint")
    return EndpointOut.of(e)


@router.delete("/endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(endpoint_id: Id, principal: Writer, state: StateDep) -> None:
    async with state.db.tenant_session(principal.tenant_id) as session:
        gone = await management.delete_endpoint(session, principal.tenant_id, str(endpoint_id))
        if gone:
            await _audit(session, principal, "webhook.endpoint_deleted", str(endpoint_id))
    if not gone:
        raise _missing("endpoint")


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
async def rotate(endpoint_id: Id, principal: Writer, state: StateDep) -> EndpointWithSecret:
    secret, sealed = await _secrets(state).issue(principal.tenant_id, str(endpoint_id))
    async with state.db.tenant_session(principal.tenant_id) as session:
        e = await management.rotate_secret(session, principal.tenant_id, str(endpoint_id), sealed, datetime.now(UTC))
        if e is not None:
            await _audit(session, principal, "webhook.secret_rotated", e.id)
    if e is None:
        raise _missing("endpoint")
    return EndpointWithSecret(**EndpointOut.of(e).model_dump(), secret=secret)


@router.post("/endpoints/{endpoint_id}/test", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryOut)
async def ping(endpoint_id: Id, principal: Writer, state: StateDep) -> DeliveryOut:
    """Send a `webhook.ping` to this endpoint now, whatever its filter."""
    tid = principal.tenant_id
    async with state.db.tenant_session(tid) as session:
        e = await store.get_endpoint(session, tid, str(endpoint_id))
        if e is None:
            raise _missing("endpoint")
        message_id = await store.record_message(
            session, tid, event_type=WebhookEventType.PING, idempotency_key=f"ping:{new_id()}", payload={"ping": True}
        )
        delivery_id = new_id()
        await store.create_delivery(session, tid, endpoint_id=e.id, message_id=message_id, delivery_id=delivery_id)
    return await _start(state, tid, delivery_id, e.id, message_id)


@router.get("/deliveries", response_model=Page[DeliveryOut])
async def list_deliveries(
    principal: Reader, state: StateDep, page: PageDep, endpoint_id: Annotated[uuid.UUID | None, Query()] = None
) -> Page[DeliveryOut]:
    eid = str(endpoint_id) if endpoint_id else None
    scope = page.scope("webhook-deliveries", principal.tenant_id, endpoint_id=eid)
    after = page.after(scope, datetime, str)
    async with state.db.tenant_session(principal.tenant_id) as session:
        rows = await management.list_deliveries(
            session,
            principal.tenant_id,
            limit=page.limit + 1,
            endpoint_id=eid,
            after=(after[0], after[1]) if after else None,
        )
    return page.of([_delivery(r) for r in rows], scope, key=lambda d: (d.created_at, d.id))


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut)
async def read_delivery(delivery_id: Id, principal: Reader, state: StateDep) -> DeliveryOut:
    async with state.db.tenant_session(principal.tenant_id) as session:
        d = await store.get_delivery(session, principal.tenant_id, str(delivery_id))
        log = await management.list_attempts(session, principal.tenant_id, str(delivery_id)) if d else None
    if d is None:
        raise _missing("delivery")
    return _delivery(d, log)


@router.post("/deliveries/{delivery_id}/redeliver", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryOut)
async def redeliver(delivery_id: Id, principal: Writer, state: StateDep) -> DeliveryOut:
    """Send the delivery's message again, as a new delivery with the same `webhook-id`."""
    tid = principal.tenant_id
    async with state.db.tenant_session(tid) as session:
        d = await store.get_delivery(session, tid, str(delivery_id))
        if d is None:
            raise _missing("delivery")
        e = await store.get_endpoint(session, tid, d.endpoint_id)
        if e is None or not e.enabled:
            raise ApiError(409, "endpoint_disabled", "enable the endpoint before redelivering to it")
        new = new_id()
        await store.create_delivery(session, tid, endpoint_id=d.endpoint_id, message_id=d.message_id, delivery_id=new)
        await _audit(session, principal, "webhook.redelivered", new, original=d.id)
    return await _start(state, tid, new, d.endpoint_id, d.message_id)


async def _start(state: StateDep, tid: str, delivery_id: str, endpoint_id: str, message_id: str) -> DeliveryOut:
    inp = WebhookDeliveryInput(tenant_id=tid, delivery_id=delivery_id, endpoint_id=endpoint_id, message_id=message_id)
    try:
        await start_delivery(state.temporal, state.settings.task_queue, inp)
    except Exception as exc:  # an RPC error: the row is there, the run is not; the client may retry
        raise ApiError(503, "engine_unavailable", "the workflow engine did not answer; retry shortly") from exc
    async with state.db.tenant_session(tid) as session:
        d = await store.get_delivery(session, tid, delivery_id)
    assert d is not None
    return _delivery(d)
