"""`/v1/channels`: a tenant's SMS, Slack, WhatsApp, email and web widget channels.

A channel names its kind, the agent that answers, the provider's API base URL for replies and the settings
that are not secret (a Twilio account SID, a WhatsApp phone number id, a Mailgun domain, a widget's allowed
origins). Provider credentials go in `secret` (verifies inbound signatures) and `token` (authenticates
replies); both are sealed under the tenant's data key and never returned, only `has_secret`/`has_token`.
The response names the URL to give the provider (`inbound_url`) and, for a widget, its public key. Every
route needs `channels:manage` (owners and admins); another tenant's ids read as 404.
"""

from __future__ import annotations

import hashlib
import secrets as pysecrets
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.definitions import find_agent, pinned_agent_names
from api.deps import StateDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from channels import store
from channels.secrets import ChannelSecrets
from contracts.channels import ChannelKind
from core.crypto.secretbox import build_keyring
from db.ids import new_id
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal
from webhooks.targets import MAX_URL_CHARS, TargetRefused, check_target

router = APIRouter(prefix="/v1/channels", tags=["channels"])

Manager = Annotated[TenantPrincipal, requires(Permission.CHANNELS_MANAGE)]
Id = Annotated[uuid.UUID, Path()]
_SETTING_KEYS = {
    ChannelKind.SMS: {"account_sid", "from_number"},
    ChannelKind.SLACK: {"team_id"},
    ChannelKind.WHATSAPP: {"phone_number_id"},
    ChannelKind.EMAIL: {"domain", "from_address", "subject"},
    ChannelKind.WIDGET: set(),
}
_PRIVATE_SETTINGS = {"verify_token_sha256"}


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ChannelKind
    name: str = Field(min_length=1, max_length=200)
    agent: str = Field(default="support", min_length=1, max_length=100)
    provider_url: str = Field(default="", max_length=MAX_URL_CHARS, description="empty: the provider's public API")
    settings: dict[str, str] = Field(default_factory=dict, max_length=10)
    secret: str | None = Field(default=None, min_length=8, max_length=500, description="verifies inbound signatures")
    token: str | None = Field(default=None, min_length=8, max_length=2000, description="authenticates replies")
    verify_token: str | None = Field(default=None, min_length=8, max_length=200, description="WhatsApp's handshake")
    allowed_origins: list[str] = Field(default_factory=list, max_length=20, description="widget: page origins")

    @model_validator(mode="after")
    def _fits_kind(self) -> ChannelIn:
        unknown = set(self.settings) - _SETTING_KEYS[self.kind]
        if unknown:
            raise ValueError(f"settings {sorted(unknown)} do not apply to a {self.kind} channel")
        if self.kind != ChannelKind.WIDGET and self.secret is None:
            raise ValueError(f"a {self.kind} channel needs the provider's signing secret in `secret`")
        if self.kind == ChannelKind.WIDGET:
            if self.secret or self.token or self.verify_token:
                raise ValueError("a widget channel has no provider credentials")
            if not self.allowed_origins:
                raise ValueError("a widget channel needs at least one allowed origin")
        elif self.allowed_origins:
            raise ValueError("allowed_origins apply to widget channels only")
        if self.verify_token and self.kind != ChannelKind.WHATSAPP:
            raise ValueError("verify_token applies to WhatsApp channels only")
        for origin in self.allowed_origins:
            if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
        return self


class ChannelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
    provider_url: str | None = Field(default=None, max_length=MAX_URL_CHARS)
    secret: str | None = Field(default=None, min_length=8, max_length=500)
    token: str | None = Field(default=None, min_length=8, max_length=2000)


class ChannelOut(BaseModel):
    id: str
    kind: str
    name: str
    agent: str
    enabled: bool
    provider_url: str
    settings: dict[str, Any]
    has_secret: bool
    has_token: bool
    inbound_url: str = Field(description="the path to give the provider as its webhook URL, on this gateway")
    public_key: str | None = Field(default=None, description="widget: the key the script tag carries")
    smtp_address: str | None = Field(
        default=None, description="email: the local part `aiaas smtp` (development) delivers to this channel"
    )
    created_at: datetime

    @classmethod
    def of(cls, tenant_id: str, c: store.Channel) -> ChannelOut:
        return cls(
            id=c.id,
            kind=c.kind,
            name=c.name,
            agent=c.agent,
            enabled=c.enabled,
            provider_url=c.provider_url,
            settings={k: v for k, v in c.settings.items() if k not in _PRIVATE_SETTINGS},
            has_secret=c.secret_ciphertext is not None,
            has_token=c.token_ciphertext is not None,
            inbound_url=f"/hooks/channels/{tenant_id}/{c.id}/{c.kind}",
            public_key=c.public_key,
            smtp_address=f"{uuid.UUID(tenant_id).hex}.{uuid.UUID(c.id).hex}" if c.kind == ChannelKind.EMAIL else None,
            created_at=c.created_at,
        )


def _box(state: StateDep) -> ChannelSecrets:
    return ChannelSecrets(build_keyring(state.db, state.settings))


async def _check_url(state: StateDep, url: str) -> None:
    if not url:
        return
    allow = state.settings.webhook_allow_private_targets or state.settings.channel_allow_private_targets
    try:
        await check_target(url, allow_private=allow)
    except TargetRefused as exc:
        raise ApiError(422, "invalid_request", str(exc), {"field": "provider_url"}) from exc


def _missing() -> ApiError:
    return ApiError(404, "not_found", "no such channel")


def widget_key(tenant_id: str) -> str:
    # The tenant is in the key so the gateway finds the channel under that tenant's row-level security.
    return f"wk_{uuid.UUID(tenant_id).hex}_{pysecrets.token_urlsafe(18)}"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ChannelOut)
async def create(body: ChannelIn, principal: Manager, state: StateDep) -> ChannelOut:
    await _check_url(state, body.provider_url)
    tid, channel_id = principal.tenant_id, new_id()
    box = _box(state)
    # Twilio signs with the same auth token it authenticates the API with.
    token = body.token or (body.secret if body.kind == ChannelKind.SMS else None)
    sealed_secret = await box.seal(tid, channel_id, "secret", body.secret) if body.secret else None
    sealed_token = await box.seal(tid, channel_id, "token", token) if token else None
    settings: dict[str, Any] = dict(body.settings)
    if body.kind == ChannelKind.WIDGET:
        settings["allowed_origins"] = body.allowed_origins
    if body.verify_token:
        settings["verify_token_sha256"] = hashlib.sha256(body.verify_token.encode()).hexdigest()
    async with state.db.tenant_session(tid) as session:
        if await find_agent(session, body.agent, pinned=pinned_agent_names(state.settings)) is None:
            raise ApiError(422, "agent_not_found", f"no agent named {body.agent!r}", {"agent": body.agent})
        c = await store.create_channel(
            session,
            tid,
            channel_id=channel_id,
            kind=body.kind.value,
            name=body.name,
            agent=body.agent,
            provider_url=body.provider_url,
            settings=settings,
            secret_ciphertext=sealed_secret,
            token_ciphertext=sealed_token,
            public_key=widget_key(tid) if body.kind == ChannelKind.WIDGET else None,
        )
        await record_event(
            session,
            tenant_id=tid,
            actor=principal.subject,
            action="channel.created",
            target=c.id,
            details={"kind": c.kind},
        )
    return ChannelOut.of(tid, c)


@router.get("", response_model=Page[ChannelOut])
async def list_channels(principal: Manager, state: StateDep, page: PageDep) -> Page[ChannelOut]:
    scope = page.scope("channels", principal.tenant_id)
    after = page.after(scope, datetime, str)
    async with state.db.tenant_session(principal.tenant_id) as session:
        rows = await store.list_channels(session, limit=page.limit + 1, after=(after[0], after[1]) if after else None)
    return page.of([ChannelOut.of(principal.tenant_id, r) for r in rows], scope, key=lambda c: (c.created_at, c.id))


@router.get("/{channel_id}", response_model=ChannelOut)
async def read(channel_id: Id, principal: Manager, state: StateDep) -> ChannelOut:
    async with state.db.tenant_session(principal.tenant_id) as session:
        c = await store.get_channel(session, str(channel_id))
    if c is None:
        raise _missing()
    return ChannelOut.of(principal.tenant_id, c)


@router.patch("/{channel_id}", response_model=ChannelOut)
async def update(channel_id: Id, body: ChannelPatch, principal: Manager, state: StateDep) -> ChannelOut:
    tid, cid = principal.tenant_id, str(channel_id)
    changes: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"secret", "token"})
    if "provider_url" in changes:
        await _check_url(state, changes["provider_url"])
    box = _box(state)
    if body.secret is not None:
        changes["secret_ciphertext"] = await box.seal(tid, cid, "secret", body.secret)
    if body.token is not None:
        changes["token_ciphertext"] = await box.seal(tid, cid, "token", body.token)
    async with state.db.tenant_session(tid) as session:
        c = await store.update_channel(session, cid, **changes)
        if c is not None:
            fields = sorted(k.removesuffix("_ciphertext") for k in changes)
            await record_event(
                session,
                tenant_id=tid,
                actor=principal.subject,
                action="channel.updated",
                target=cid,
                details={"fields": fields},
            )
    if c is None:
        raise _missing()
    return ChannelOut.of(tid, c)


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(channel_id: Id, principal: Manager, state: StateDep) -> None:
    async with state.db.tenant_session(principal.tenant_id) as session:
        gone = await store.delete_channel(session, str(channel_id))
        if gone:
            await record_event(
                session,
                tenant_id=principal.tenant_id,
                actor=principal.subject,
                action="channel.deleted",
                target=str(channel_id),
            )
    if not gone:
        raise _missing()
