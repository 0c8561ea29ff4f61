"""`/console/members`: the tenant's members and invitations, through the `/v1/tenant` functions.

Members (address, role, since) with a role change and a removal (a box to tick, checked here); an invite
form whose answer shows the acceptance link once; the invitations with revoke for the pending ones. Each
handler runs the API route's own `members:manage` dependency first, so a viewer gets the API's 403.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from api.errors import ApiError
from api.routes.invitations import InvitationCreate, InvitationCreated, invite, list_all, revoke
from api.routes.tenant import MemberRole, MembersManager, delete_member, list_members, set_role
from console.pages.conversations import page_request
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, Viewer, ViewerDep, render
from tenancy.permissions import TenantRole, may_grant
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
IdText = Annotated[str, Path(max_length=64)]
SHOWN = 200


def known_id(value: str, code: str) -> uuid.UUID:
    """A malformed id is the API's 404, as another tenant's id is."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, code, "no such " + code.removesuffix("_not_found")) from None


async def members_page(
    viewer: Viewer,
    principal: TenantPrincipal,
    code: int = 200,
    *,
    created: InvitationCreated | None = None,
    error: ApiError | None = None,
) -> Response:
    members = await list_members(principal, viewer.state, page_request(viewer, None, SHOWN))
    invitations = await list_all(principal, viewer.state, page_request(viewer, None, SHOWN), None)
    grantable = [role for role in TenantRole if may_grant(principal.permissions, role.value)]
    context: dict[str, Any] = {
        "members": members.items,
        "invitations": invitations.items,
        "roles": grantable,
        "created": created,
        "form_error": error,
    }
    return render(viewer, viewer.request, "members.html", error.status if error else code, **context)


@router.get("/members")
async def members(viewer: ViewerDep) -> Response:
    return await members_page(viewer, await viewer.check(MembersManager))


@router.post("/members/invitations")
async def invite_someone(
    viewer: CsrfViewerDep,
    email: Annotated[str, Form(min_length=1, max_length=320)],
    role: Annotated[TenantRole, Form()] = TenantRole.VIEWER,
    send_email: Annotated[Literal["on"] | None, Form()] = None,
) -> Response:
    principal = await viewer.check(MembersManager)
    try:
        body = InvitationCreate(email=email, role=role, send_email=send_email == "on")
    except ValidationError:
        return await members_page(viewer, principal, error=ApiError(422, "invalid_email", "that is not an address"))
    try:
        created = await invite(body, principal, viewer.state, viewer.request)
    except ApiError as exc:
        if exc.status == 403:
            raise
        # Shown beside the form: a pending invitation or a member with the address, a malformed address.
        return await members_page(viewer, principal, error=exc)
    return await members_page(viewer, principal, 201, created=created)


@router.post("/members/invitations/{invitation_id}/revoke")
async def revoke_invitation(invitation_id: IdText, viewer: CsrfViewerDep) -> Response:
    principal = await viewer.check(MembersManager)
    await revoke(known_id(invitation_id, "invitation_not_found"), principal, viewer.state)
    return RedirectResponse(f"{PREFIX}/members", status_code=303)


@router.post("/members/{user_id}/role")
async def change_role(
    user_id: IdText, viewer: CsrfViewerDep, role: Annotated[TenantRole | None, Form()] = None
) -> Response:
    principal = await viewer.check(MembersManager)
    member = known_id(user_id, "member_not_found")
    if role is None:
        return await members_page(viewer, principal, error=ApiError(422, "invalid_request", "choose a role"))
    await set_role(member, MemberRole(role=role), principal, viewer.state)
    return RedirectResponse(f"{PREFIX}/members", status_code=303)


@router.post("/members/{user_id}/remove")
async def remove(user_id: IdText, viewer: CsrfViewerDep, confirm: Annotated[str, Form(max_length=8)] = "") -> Response:
    principal = await viewer.check(MembersManager)
    member = known_id(user_id, "member_not_found")
    if confirm != "yes":
        error = ApiError(422, "confirmation_required", "tick the box to confirm the member's removal")
        return await members_page(viewer, principal, error=error)
    await delete_member(member, principal, viewer.state)
    return RedirectResponse(f"{PREFIX}/members", status_code=303)
