"""What every console page shares: the signed-in viewer, permission checks, CSRF, HTML errors, rendering.

    @router.get("/things")
    async def things(viewer: ViewerDep) -> Response:
        principal = await viewer.check(ConversationsReadDep)   # the API route's own dependency, same 403
        return render(viewer, "things.html", things=...)

Every POST form carries `csrf_token` (or htmx sends it as `X-CSRF-Token`); `CsrfViewerDep` refuses a POST
without the session's token, and one whose `Origin` is not the console's own.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api.errors import ApiError
from api.session_auth import session_id, session_principal
from api.state import GatewayState
from contracts.conversation import conversation_workflow_id
from tenancy.permissions import PlatformRole, acts_as
from tenancy.principal import Principal
from tenancy.web_sessions import csrf_matches, csrf_token

PREFIX = "/console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Scripts and styles only from the console's own static files: no inline script can run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the session's principal, its id (for the CSRF token) and the request."""

    request: Request
    principal: Principal
    session_id: str

    @property
    def state(self) -> GatewayState:
        return self.request.app.state.gateway

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id)

    @property
    def tenant_switchable(self) -> bool:
        """The session's tenant was chosen on the picker (its token names none): the picker can change it."""
        return bool(getattr(self.request.state, "tenant_switchable", False))

    @property
    def is_operator(self) -> bool:
        return acts_as(self.principal.platform_role, PlatformRole.PLATFORM_OPERATOR)

    async def check(self, dependency: Any) -> Any:
        """Run the API's own permission dependency (`ConversationsReadDep`, `PlatformAdminDep`, ...)."""
        depends = next(arg for arg in typing.get_args(dependency)[1:] if hasattr(arg, "dependency"))
        return await depends.dependency(self.principal)

    def run_url(self, workflow_id: str) -> str | None:
        """Where Temporal UI shows a run; None when the gateway does not know the UI's address."""
        settings = self.state.settings
        if not settings.temporal_ui_url:
            return None
        from urllib.parse import quote

        base = settings.temporal_ui_url.rstrip("/")
        return f"{base}/namespaces/{quote(settings.temporal_namespace)}/workflows/{quote(workflow_id, safe='')}"

    def conversation_run_url(self, conversation_id: str) -> str | None:
        tenant = self.principal.tenant_id
        return self.run_url(conversation_workflow_id(tenant, conversation_id)) if tenant else None


async def _viewer(request: Request) -> Viewer:
    principal = await session_principal(request.app.state.gateway, request)
    viewer = Viewer(request=request, principal=principal, session_id=session_id(request) or "")
    # An error page later in this request still shows who is signed in, with the navigation and sign-out.
    request.state.console_viewer = viewer
    return viewer


def same_origin(request: Request) -> bool:
    """A browser's `Origin` (or, lacking it, `Referer`) names this host; absent both, nothing to compare."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return sent is None
    from urllib.parse import urlsplit

    return urlsplit(sent).netloc == request.headers.get("host", "")


async def check_csrf(request: Request, session: str) -> None:
    """403 `csrf_failed` unless the request sends the session's CSRF token from the console's own origin."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not same_origin(request) or not csrf_matches(session, sent):
        raise ApiError(403, "csrf_failed", "the form was stale or not sent from this console; reload and try again")


async def _csrf_viewer(request: Request, viewer: Annotated[Viewer, Depends(_viewer)]) -> Viewer:
    await check_csrf(request, viewer.session_id)
    return viewer


ViewerDep = Annotated[Viewer, Depends(_viewer)]
CsrfViewerDep = Annotated[Viewer, Depends(_csrf_viewer)]


def render(viewer: Viewer | None, request: Request, template: str, code: int = 200, **context: Any) -> Response:
    response = templates.TemplateResponse(
        request, template, {"viewer": viewer, "prefix": PREFIX, **context}, status_code=code
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: Request, exc: ApiError) -> Response:
    if exc.status == 401:
        # Only safe, in-console paths come back after signing in.
        target = request.url.path if request.method == "GET" and request.url.path.startswith(PREFIX) else PREFIX
        # Signed in, but the tenant is the person's to choose (again, if their membership of it was removed).
        where = "choose-tenant" if exc.code == "tenant_not_chosen" else "sign-in"
        response: Response = RedirectResponse(f"{PREFIX}/{where}?next={target}", status_code=303)
        response.headers.update(SECURITY_HEADERS)
        return response
    viewer = getattr(request.state, "console_viewer", None)
    page = render(viewer, request, "error.html", exc.status, error=exc)
    if "Retry-After" in (exc.headers or {}):
        page.headers["Retry-After"] = (exc.headers or {})["Retry-After"]
    return page


class ConsoleRoute(APIRoute):
    """Turns the API's errors (and invalid query or form values) into the console's HTML error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return error_page(request, exc)
            except (RequestValidationError, ValidationError) as exc:
                fields = ", ".join(sorted({str((e.get("loc") or ("?",))[-1]) for e in exc.errors()}))
                return error_page(request, ApiError(422, "invalid_request", f"invalid value for: {fields}"))

        return html_errors
