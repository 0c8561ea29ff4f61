"""`/v1/connectors`: which payments, shipping and CRM system a tenant's agent tools act on.

Each system is the sandbox (state in the tenant's own tables) until the tenant points it at its own service
over HTTP. The signing secret of an HTTP connector goes in once and never comes back out: responses say only
whether one is stored. Reading needs `tenant:read`, changing `agents:manage`; every change is audited. Running
workers pick a change up within their connector cache lifetime (seconds).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import StateDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from commerce.connectors.config import (
    MAX_SECRET_CHARS,
    MAX_URL_CHARS,
    MIN_SECRET_CHARS,
    ConnectorSetting,
    SecretBox,
    build_keyring,
    delete_setting,
    list_settings,
    save_setting,
    validate_base_url,
)
from commerce.constants import (
    CONNECTOR_SYSTEMS,
    DEFAULT_CONNECTOR_TIMEOUT_SECONDS,
    MAX_CONNECTOR_TIMEOUT_SECONDS,
)
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/connectors", tags=["connectors"])

ConnectorsReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
ConnectorsManager = Annotated[TenantPrincipal, requires(Permission.AGENTS_MANAGE)]


class ConnectorSystem(StrEnum):
    PAYMENTS = "payments"
    SHIPPING = "shipping"
    CRM = "crm"


SystemPath = Annotated[ConnectorSystem, Path(description="the external system")]


class ConnectorOut(BaseModel):
    system: str
    kind: str
    base_url: str | None
    has_secret: bool = Field(description="whether a signing secret is stored; the secret itself is never shown")
    timeout_seconds: float
    updated_at: datetime | None

    @classmethod
    def of(cls, setting: ConnectorSetting) -> ConnectorOut:
        return cls.model_validate(setting, from_attributes=True)


class ConnectorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["sandbox", "http"]
    base_url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_CHARS, description="http only")
    secret: str | None = Field(
        default=None,
        min_length=MIN_SECRET_CHARS,
        max_length=MAX_SECRET_CHARS,
        pattern=r"^[\x21-\x7e]+$",
        description="HMAC signing secret, printable ASCII; required for http unless one is stored already",
    )
    timeout_seconds: float = Field(default=DEFAULT_CONNECTOR_TIMEOUT_SECONDS, gt=0, le=MAX_CONNECTOR_TIMEOUT_SECONDS)

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        if self.kind == "sandbox" and (self.base_url is not None or self.secret is not None):
            raise ValueError("a sandbox connector takes no base_url or secret")
        if self.kind == "http" and self.base_url is None:
            raise ValueError("an http connector needs a base_url")
        return self


@router.get("", response_model=Page[ConnectorOut])
async def list_connectors(principal: ConnectorsReader, state: StateDep, page: PageDep) -> Page[ConnectorOut]:
    """Every external system (payments, shipping, crm), with how the tenant's tools reach it."""
    settings = await list_settings(state.db, principal.tenant_id)
    scope = page.scope("connectors", principal.tenant_id)
    listed = [ConnectorOut.of(s) for s in settings]
    return page.slice(listed, scope, key=lambda c: (CONNECTOR_SYSTEMS.index(c.system),), kinds=(int,))


@router.put("/{system}", response_model=ConnectorOut)
async def configure_connector(
    system: SystemPath, body: ConnectorUpdate, principal: ConnectorsManager, state: StateDep
) -> ConnectorOut:
    base_url = None
    if body.base_url is not None:
        try:
            base_url = validate_base_url(body.base_url, allow_private=state.settings.env != "prod")
        except ValueError as exc:
            raise ApiError(422, "invalid_base_url", str(exc), {"field": "base_url"}) from None
    box = SecretBox(build_keyring(state.db, state.settings))
    try:
        setting = await save_setting(
            state.db,
            box,
            principal.tenant_id,
            system.value,
            kind=body.kind,
            base_url=base_url,
            secret=body.secret,
            timeout_seconds=body.timeout_seconds,
            actor=principal.subject,
        )
    except ValueError as exc:
        # Never `str(body)`: the message names the rule, not the secret.
        raise ApiError(422, "invalid_request", str(exc)) from None
    return ConnectorOut.of(setting)


@router.delete("/{system}", status_code=status.HTTP_204_NO_CONTENT)
async def reset_connector(system: SystemPath, principal: ConnectorsManager, state: StateDep) -> Response:
    await delete_setting(state.db, principal.tenant_id, system.value, actor=principal.subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
