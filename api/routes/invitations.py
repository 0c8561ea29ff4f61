"""Invitations: `/v1/tenant/invitations` for member managers, `POST /v1/invitations/accept` for the invited.

Issuing, listing and revoking need `members:manage`, and nobody invites to (or revokes an invitation for) a
role above their own credentials. The answer to issuing carries the token and the console link once; the
platform keeps only the token's hash. With `send_email` the link is also mailed to the invited address
(`api.invitation_mail`); otherwise whoever invites passes it on.

Accepting needs a person's identity, a JWT the gateway trusts (an API key is refused with 403
`identity_required`: a key is not a person). Its `sub` becomes the user; when it carries a verified email
(`email` with `email_verified: true`) that address must be the invited one. The tenant comes from the
invitation, never from the token's own `tenant_id` claim. Refusals are in `tenancy.invitations`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import StateDep, authenticate_any, requires
from api.errors import ApiError
from api.invitation_mail import EmailStatus, mail_invitation
from api.pagination import Page, PageDep
from api.state import GatewayState
from tenancy.auth_cache import publish_invalidation
from tenancy.invitation_tokens import MAX_EMAIL_CHARS, MAX_TOKEN_CHARS, InvitationRefused, token_tenant
from tenancy.invitations import (
    Invitation,
    accept_invitation,
    create_invitation,
    list_invitations,
    revoke_invitation,
)
from tenancy.jwt import TokenClaims
from tenancy.keys import parse_api_key
from tenancy.permissions import Permission, TenantRole, may_grant
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/tenant/invitations", tags=["tenant"])
accept_router = APIRouter(prefix="/v1/invitations", tags=["tenant"])

MembersManager = Annotated[TenantPrincipal, requires(Permission.MEMBERS_MANAGE)]
InvitationId = Annotated[uuid.UUID, Path(description="the invitation's id")]
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aiaas"'}
_MAX_BEARER_CHARS = 8192
# The console's page for the link (`console.pages.invitation_accept`).
ACCEPT_PAGE = "/console/invitations/accept"


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=MAX_EMAIL_CHARS, description="the invited person's address")
    role: TenantRole = Field(description="the role they get on accepting; no more than your own credentials grant")
    send_email: bool = Field(default=False, strict=True, description="also mail the link to the invited address")


class InvitationOut(BaseModel):
    id: str
    email: str
    role: str
    status: Literal["pending", "accepted", "revoked", "expired"]
    invited_by: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    accepted_by: str | None = Field(default=None, description="the user id of whoever accepted it")
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationOut:
        return cls.model_validate(invitation, from_attributes=True)


class InvitationCreated(InvitationOut):
    token: str = Field(description="the acceptance token; shown only in this response")
    accept_url: str = Field(description="the console page that accepts it, token included; shown only here")
    email_status: EmailStatus = Field(
        default="not_requested", description="whether the link was queued for mailing (`send_email`)"
    )


class AcceptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)


class Accepted(BaseModel):
    tenant_id: str
    user_id: str
    role: str
    joined: bool = Field(description="false when this identity had accepted the invitation already")
    invitation: InvitationOut


def refusal(exc: InvitationRefused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.details or None)


async def forget_roles(state: GatewayState, tenant_id: str) -> None:
    """Cached principals carry roles: a new member's token resolved before joining had none."""
    state.authenticator.forget(tenant_id=tenant_id)
    try:
        await publish_invalidation(state.redis, tenant_id=tenant_id)
    except Exception:
        # The local cache is dropped; other replicas' entries expire on their own within seconds.
        return


@router.post("", status_code=status.HTTP_201_CREATED, response_model=InvitationCreated)
async def invite(
    body: InvitationCreate, principal: MembersManager, state: StateDep, request: Request
) -> InvitationCreated:
    if not may_grant(principal.permissions, body.role.value):
        raise ApiError(403, "forbidden", "the role grants more than your own credentials")
    try:
        async with state.db.control_session(principal.tenant_id) as session:
            invitation, token = await create_invitation(
                session,
                tenant_id=principal.tenant_id,
                email=body.email,
                role=body.role.value,
                invited_by=principal.subject,
                inviter_roles=principal.roles,
                inviter_scopes=principal.scopes,
                ttl=timedelta(seconds=state.settings.invitation_ttl_seconds),
            )
    except InvitationRefused as exc:
        raise refusal(exc) from None
    page = state.settings.invitation_accept_url or f"{str(request.base_url).rstrip('/')}{ACCEPT_PAGE}"
    url = f"{page}?token={quote(token, safe='')}"
    mailed: EmailStatus = "not_requested"
    if body.send_email:
        mailed = await mail_invitation(state, principal.tenant_id, invitation, url)
    return InvitationCreated(
        **InvitationOut.of(invitation).model_dump(), token=token, accept_url=url, email_status=mailed
    )


@router.get("", response_model=Page[InvitationOut])
async def list_all(
    principal: MembersManager,
    state: StateDep,
    page: PageDep,
    status_filter: Annotated[Literal["pending", "accepted", "revoked", "expired"] | None, Query(alias="status")] = None,
) -> Page[InvitationOut]:
    """The tenant's invitations, newest first; `status` derives expiry from the clock."""
    scope = page.scope("invitations", principal.tenant_id, status=status_filter)
    after = page.after(scope, datetime, str)
    async with state.db.control_session(principal.tenant_id) as session:
        found = await list_invitations(
            session, status=status_filter, after=(after[0], after[1]) if after else None, limit=page.limit + 1
        )
    return page.of([InvitationOut.of(i) for i in found], scope, key=lambda i: (i.created_at, i.id))


@router.delete("/{invitation_id}", response_model=InvitationOut)
async def revoke(invitation_id: InvitationId, principal: MembersManager, state: StateDep) -> InvitationOut:
    try:
        async with state.db.control_session(principal.tenant_id) as session:
            revoked = await revoke_invitation(
                session,
                tenant_id=principal.tenant_id,
                invitation_id=str(invitation_id),
                actor=principal.subject,
                held=principal.permissions,
            )
    except InvitationRefused as exc:
        raise refusal(exc) from None
    return InvitationOut.of(revoked)


def _bearer(header: str | None) -> str:
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_BEARER_CHARS:
        raise ApiError(401, "unauthenticated", "expected `Authorization: Bearer <identity token>`", headers=_CHALLENGE)
    return token


async def verified_identity(state: GatewayState, credential: str) -> TokenClaims:
    """The claims of a person's identity token; 401 for anything unverifiable, 403 for a valid API key."""
    if parse_api_key(credential) is not None:
        await authenticate_any(state, f"Bearer {credential}")  # an invalid key is a 401 like anywhere else
        message = "an invitation is accepted by a person's identity token, not an API key"
        raise ApiError(403, "identity_required", message)
    verifier = state.authenticator.jwt
    claims = await verifier.verify(credential) if verifier is not None else None
    if claims is None:
        raise ApiError(401, "unauthenticated", "invalid or expired identity token", headers=_CHALLENGE)
    return claims


async def accept(state: GatewayState, claims: TokenClaims, token: str) -> Accepted:
    """Accept `token` as the identity of `claims`; what the API route and the console's page both run."""
    tenant_id = token_tenant(token)
    if tenant_id is None:
        raise ApiError(404, "invitation_not_found", "no such invitation; ask for a new link")
    try:
        async with state.db.control_session(tenant_id) as session:
            done = await accept_invitation(
                session,
                tenant_id=tenant_id,
                token=token,
                subject=claims.subject,
                email=claims.email if claims.email_verified else None,
                display_name=claims.name,
            )
    except InvitationRefused as exc:
        raise refusal(exc) from None
    if done.joined:
        await forget_roles(state, tenant_id)
    return Accepted(
        tenant_id=done.tenant_id,
        user_id=done.user_id,
        role=done.role,
        joined=done.joined,
        invitation=InvitationOut.of(done.invitation),
    )


async def _identity(request: Request) -> TokenClaims:
    return await verified_identity(request.app.state.gateway, _bearer(request.headers.get("authorization")))


# A dependency, so a missing or bad identity is a 401 before the body is looked at.
IdentityDep = Annotated[TokenClaims, Depends(_identity)]


@accept_router.post("/accept", response_model=Accepted)
async def accept_route(body: AcceptBody, claims: IdentityDep, state: StateDep) -> Accepted:
    """Join the invitation's tenant with its role, as the person the identity token names."""
    return await accept(state, claims, body.token)
