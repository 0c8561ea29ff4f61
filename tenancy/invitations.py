"""Invitations to join a tenant: issued by a member manager, accepted by a person's identity token.

A token is `inv_<tenant id>.<256 random bits>` (`tenancy.invitation_tokens`), shown once; only its SHA-256 is
stored. The tenant id in it says which tenant's rows to look in (the acceptance has no tenant of its own); it
grants nothing by itself: a token whose tenant part was changed matches no row there, so a token of tenant A can
only ever make a member of A.

Acceptance is refused when the invitation was revoked or has expired (410), was used by another person (409),
names an address other than the identity's verified email (403), or asks for a role its inviter can no longer
grant (403: the key that invited was revoked, or the inviting member was demoted). Accepting again as the same
person answers as the first time. Every change is audited; the invited address is personal data, so it goes into
the events' sealed part.
"""

# ruff: noqa: S608  # statements are assembled from this module's constants; values are bound parameters
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from db.ids import new_id
from tenancy.audit import record_event
from tenancy.invitation_tokens import InvitationRefused, new_token, normalise_email, token_sha256
from tenancy.permissions import Permission, may_grant, permissions_for
from tenancy.tenants import ensure_user, set_member_role

STATUSES = ("pending", "accepted", "revoked", "expired")
_STATUS = (
    "CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN accepted_at IS NOT NULL THEN 'accepted'"
    " WHEN expires_at <= now() THEN 'expired' ELSE 'pending' END"
)
_COLUMNS = (
    f"id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by, revoked_at, {_STATUS} AS status"
)


@dataclass(frozen=True)
class Invitation:
    id: str
    email: str
    role: str
    status: str
    invited_by: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    # The user id of whoever accepted it.
    accepted_by: str | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Acceptance:
    invitation: Invitation
    tenant_id: str
    user_id: str
    role: str
    # False when this person had accepted it already: nothing changed.
    joined: bool


def _invitation(row: Any) -> Invitation:
    fields = dict(row._mapping)
    return Invitation(**{name: fields[name] for name in Invitation.__dataclass_fields__})


async def create_invitation(
    session: AsyncSession,
    *,
    tenant_id: str,
    email: str,
    role: str,
    invited_by: str,
    inviter_roles: Sequence[str],
    inviter_scopes: Sequence[str],
    ttl: timedelta,
) -> tuple[Invitation, str]:
    """A new pending invitation and its token (the only time the token exists outside the requester)."""
    email = normalise_email(email)
    # One pending invitation per address: two concurrent requests for it queue here.
    await run_sql(
        session, "SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))", {"k": f"invite:{tenant_id}:{email.lower()}"}
    )
    pending = (
        await run_sql(
            session,
            "SELECT id FROM invitations WHERE lower(email) = lower(:e) AND revoked_at IS NULL"
            " AND accepted_at IS NULL AND expires_at > now() LIMIT 1",
            {"e": email},
        )
    ).first()
    if pending is not None:
        raise InvitationRefused(
            409,
            "invitation_pending",
            "this address has a pending invitation; revoke it to send a new one",
            {"invitation_id": pending.id},
        )
    member = (
        await run_sql(
            session,
            "SELECT user_id FROM identity_member_profiles() WHERE lower(email) = lower(:e) LIMIT 1",
            {"e": email},
        )
    ).first()
    if member is not None:
        details = {"user_id": member.user_id}
        raise InvitationRefused(409, "already_member", "a member of this tenant has this address", details)
    token = new_token(tenant_id)
    row = (
        await run_sql(
            session,
            "INSERT INTO invitations (tenant_id, id, email, role, token_sha256, invited_by, inviter_roles,"
            " inviter_scopes, expires_at) VALUES (:t, :id, :e, :role, :h, :by, :roles, :scopes, now() + :ttl)"
            f" RETURNING {_COLUMNS}",
            {
                "t": tenant_id,
                "id": new_id(),
                "e": email,
                "role": role,
                "h": token_sha256(token),
                "by": invited_by,
                "roles": list(inviter_roles),
                "scopes": list(inviter_scopes),
                "ttl": ttl,
            },
        )
    ).one()
    invitation = _invitation(row)
    await record_event(
        session, tenant_id=tenant_id, actor=invited_by, action="invitation.created", target=invitation.id,
        details={"role": role, "expires_at": invitation.expires_at.isoformat()}, private={"email": email},
    )  # fmt: skip
    return invitation, token


async def list_invitations(
    session: AsyncSession, *, status: str | None, after: tuple[datetime, str] | None, limit: int
) -> list[Invitation]:
    """Newest first, at most `limit`, after the keyset position `after`."""
    rows = await run_sql(
        session,
        f"SELECT {_COLUMNS} FROM invitations"
        f" WHERE (CAST(:status AS text) IS NULL OR {_STATUS} = :status)"
        " AND (CAST(:after_at AS timestamptz) IS NULL"
        " OR (created_at, id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS text)))"
        " ORDER BY created_at DESC, id DESC LIMIT :limit",
        {
            "status": status,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )
    return [_invitation(row) for row in rows]


async def _locked(session: AsyncSession, where: str, params: dict[str, Any]) -> Any:
    return (
        await run_sql(
            session,
            f"SELECT {_COLUMNS}, inviter_roles, inviter_scopes FROM invitations WHERE {where} FOR UPDATE",
            params,
        )
    ).first()


async def revoke_invitation(
    session: AsyncSession, *, tenant_id: str, invitation_id: str, actor: str, held: frozenset[Permission]
) -> Invitation:
    row = await _locked(session, "id = :id", {"id": invitation_id})
    if row is None:
        raise InvitationRefused(404, "invitation_not_found", "no such invitation")
    if not may_grant(held, row.role):
        raise InvitationRefused(403, "forbidden", "the invitation grants more than your own credentials")
    if row.status != "pending":
        details = {"status": row.status}
        raise InvitationRefused(409, "invitation_not_pending", f"the invitation is {row.status}", details)
    updated = (
        await run_sql(
            session,
            f"UPDATE invitations SET revoked_at = now() WHERE id = :id RETURNING {_COLUMNS}",
            {"id": invitation_id},
        )
    ).one()
    await record_event(
        session, tenant_id=tenant_id, actor=actor, action="invitation.revoked", target=invitation_id,
        details={"role": row.role}, private={"email": row.email},
    )  # fmt: skip
    return _invitation(updated)


async def _inviter_grants(session: AsyncSession, tenant_id: str, row: Any) -> frozenset[Permission]:
    """What the inviter holds now: their key's current role, or their membership's, else what their token said."""
    inviter: str = row.invited_by
    if inviter.startswith("apikey:"):
        key = (
            await run_sql(
                session,
                "SELECT role, scopes FROM api_keys WHERE id = :id AND revoked_at IS NULL"
                " AND (expires_at IS NULL OR expires_at > now())",
                {"id": inviter.removeprefix("apikey:")},
            )
        ).first()
        return permissions_for((key.role,), key.scopes or ()) if key is not None else frozenset()
    member = (
        await run_sql(session, "SELECT tenant_role FROM auth_lookup_identity(:s, :t)", {"s": inviter, "t": tenant_id})
    ).one()
    roles = (member.tenant_role,) if member.tenant_role else tuple(row.inviter_roles)
    return permissions_for(roles, row.inviter_scopes)


async def accept_invitation(
    session: AsyncSession,
    *,
    tenant_id: str,
    token: str,
    subject: str,
    email: str | None,
    display_name: str | None = None,
) -> Acceptance:
    """Make the person `subject` a member as the invitation says, in a session bound to `tenant_id`.

    `email` is the identity's verified address, None when its token carries none; `display_name` its `name`."""
    row = await _locked(session, "token_sha256 = :h", {"h": token_sha256(token)})
    if row is None:
        raise InvitationRefused(404, "invitation_not_found", "no such invitation; ask for a new link")
    invitation = _invitation(row)
    user_id = await ensure_user(session, subject=subject, email=email, display_name=display_name)
    if row.status == "accepted":
        if row.accepted_by != user_id:
            raise InvitationRefused(409, "invitation_used", "this invitation was accepted by someone else")
        current = await session.scalar(text("SELECT role FROM memberships WHERE user_id = :u"), {"u": user_id})
        if current is None:
            # Accepted, then removed: the link does not bring a removed member back.
            raise InvitationRefused(409, "invitation_used", "this invitation was used already; ask for a new one")
        return Acceptance(invitation, tenant_id, user_id, str(current), joined=False)
    if row.status in ("revoked", "expired"):
        message = f"this invitation has been {row.status}; ask for a new one"
        raise InvitationRefused(410, f"invitation_{row.status}", message)
    if email is not None and email.lower() != row.email.lower():
        raise InvitationRefused(403, "email_mismatch", "the invitation is for another address than your identity's")
    if not may_grant(await _inviter_grants(session, tenant_id, row), row.role):
        raise InvitationRefused(
            403, "inviter_cannot_grant", "whoever sent this invitation can no longer grant its role; ask for a new one"
        )
    status = await session.scalar(text("SELECT status FROM tenants WHERE id = :t"), {"t": tenant_id})
    if status != "active":
        raise InvitationRefused(403, "tenant_not_active", "this tenant is not active")
    existing = await session.scalar(text("SELECT role FROM memberships WHERE user_id = :u"), {"u": user_id})
    if existing is not None:
        raise InvitationRefused(409, "already_member", f"you are a member already, as {existing}", {"role": existing})
    await set_member_role(session, tenant_id=tenant_id, user_id=user_id, role=row.role, actor=subject)
    accepted = (
        await run_sql(
            session,
            f"UPDATE invitations SET accepted_at = now(), accepted_by = :u WHERE id = :id RETURNING {_COLUMNS}",
            {"u": user_id, "id": row.id},
        )
    ).one()
    await record_event(
        session, tenant_id=tenant_id, actor=subject, action="invitation.accepted", target=row.id,
        details={"role": row.role, "user_id": user_id}, private={"email": row.email},
    )  # fmt: skip
    return Acceptance(_invitation(accepted), tenant_id, user_id, row.role, joined=True)
