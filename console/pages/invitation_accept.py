"""`/console/invitations/accept?token=...`: the link an invitation hands out, accepted as the signed-in person.

Without a session the link goes to the sign-in page and comes back with its token. The acceptance runs the
API's own (`api.routes.invitations.accept`) with the identity token the session was opened with: a session
opened with an API key is refused (`identity_required`), as the API refuses a key.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from api.errors import ApiError
from api.routes.invitations import accept, verified_identity
from api.session_auth import session_id, session_principal
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, Viewer, render
from tenancy.invitations import MAX_TOKEN_CHARS

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PATH = "/invitations/accept"
Token = Annotated[str, Query(max_length=MAX_TOKEN_CHARS)]


def _missing() -> ApiError:
    return ApiError(404, "invitation_not_found", "this link carries no invitation; ask for a new one")


@router.get(PATH)
async def accept_page(request: Request, token: Token = "") -> Response:
    try:
        principal = await session_principal(request.app.state.gateway, request)
    except ApiError as exc:
        if exc.status != 401:
            raise
        # Back here after signing in (or choosing the tenant), token and all (only console paths come back).
        back = f"{PREFIX}{PATH}?token={quote(token, safe='')}"
        where = "choose-tenant" if exc.code == "tenant_not_chosen" else "sign-in"
        return RedirectResponse(f"{PREFIX}/{where}?next={quote(back, safe='')}", status_code=303)
    viewer = Viewer(request=request, principal=principal, session_id=session_id(request) or "")
    request.state.console_viewer = viewer
    if not token:
        raise _missing()
    return render(viewer, request, "invitation_accept.html", token=token, accepted=None)


@router.post(PATH)
async def accept_invitation(
    viewer: CsrfViewerDep, token: Annotated[str, Form(max_length=MAX_TOKEN_CHARS)] = ""
) -> Response:
    if not token:
        raise _missing()
    state = viewer.state
    credential = await state.web_sessions.credential(viewer.session_id)
    if credential is None:
        raise ApiError(401, "unauthenticated", "no console session; sign in again")
    accepted = await accept(state, await verified_identity(state, credential), token)
    here = viewer.principal.tenant_id == accepted.tenant_id
    return render(viewer, viewer.request, "invitation_accept.html", token="", accepted=accepted, here=here)
