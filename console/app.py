"""Mount the console on the gateway: its pages under `/console`, its static files (htmx, the live view's
script, the stylesheet) under `/console/static`, served from the package itself, so nothing is fetched from
elsewhere at run time.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.edge_limits import ConsoleLimit
from console.pages import (
    agents,
    audit,
    conversations,
    inbox,
    invitation_accept,
    keys,
    knowledge,
    knowledge_search,
    knowledge_upload,
    members,
    offboarding,
    oidc,
    operator,
    reports,
    signin,
    tenant_picker,
    tools,
    usage,
    webhooks,
)
from console.web import PREFIX

STATIC = Path(__file__).parent / "static"
ROUTERS = (
    signin.router,
    oidc.router,
    tenant_picker.router,
    conversations.router,
    inbox.router,
    agents.router,
    tools.router,
    usage.router,
    webhooks.router,
    knowledge.router,
    knowledge_upload.router,
    knowledge_search.router,
    reports.router,
    keys.router,
    members.router,
    invitation_accept.router,
    audit.router,
    # Before the operator's pages: its `/tenants/{id}/offboard` would otherwise meet `/tenants/{id}/{action}`.
    offboarding.router,
    operator.router,
)


def install_console(app: FastAPI) -> None:
    for router in ROUTERS:
        # Per client address, before the session is resolved (policies/edge_limits.py).
        app.include_router(router, dependencies=[ConsoleLimit])
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
