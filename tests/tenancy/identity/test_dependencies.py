"""The authorization dependencies on a tiny in-process app, with real authentication against the database:
platform roles reach platform routes, tenant roles do not, and the reverse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI

from api.deps import PlatformAdminDep, PlatformOperatorDep, TenantDep, requires
from api.errors import install_error_handlers
from db.database import Database
from tenancy.auth import ApiKeyAuthenticator
from tenancy.jwt import JwtConfig, JwtVerifier, issue_token
from tenancy.permissions import Permission
from tenancy.principal import Principal
from tenancy.tenants import create_tenant
from tests.tenancy.conftest import PEPPER, Urls, unique_name

SECRET = "dependency-tests-secret-" + "d" * 32


def _app(authenticator: ApiKeyAuthenticator) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.gateway = SimpleNamespace(authenticator=authenticator)

    @app.get("/platform/admin")
    async def admin_only(principal: PlatformAdminDep) -> dict[str, str | None]:
        return {"platform_role": principal.platform_role}

    @app.get("/platform/ops")
    async def operators(principal: PlatformOperatorDep) -> dict[str, str | None]:
        return {"platform_role": principal.platform_role}

    @app.get("/tenant")
    async def tenant(principal: TenantDep) -> dict[str, str]:
        return {"tenant_id": principal.tenant_id}

    @app.get("/audit")
    async def audit(principal: Annotated[Principal, requires(Permission.AUDIT_READ)]) -> dict[str, str | None]:
        return {"tenant_id": principal.tenant_id}

    return app


@pytest.fixture
async def client(app_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    authenticator = ApiKeyAuthenticator(app_db, PEPPER, cache_seconds=0)
    verifier = JwtVerifier(JwtConfig(algorithms=frozenset({"HS256"}), secret=SECRET))
    authenticator.use_jwt(verifier)
    transport = httpx.ASGITransport(app=_app(authenticator))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        yield http
    await authenticator.close()
    await verifier.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _statuses(client: httpx.AsyncClient, token: str) -> dict[str, int]:
    paths = ("/platform/admin", "/platform/ops", "/tenant", "/audit")
    return {path: (await client.get(path, headers=_bearer(token))).status_code for path in paths}


async def test_platform_admin_reaches_both_platform_routes(client: httpx.AsyncClient) -> None:
    token = issue_token(SECRET, subject="root", platform_role="platform_admin")
    assert await _statuses(client, token) == {
        "/platform/admin": 200,
        "/platform/ops": 200,
        "/tenant": 403,
        "/audit": 403,
    }


async def test_platform_operator_is_no_admin(client: httpx.AsyncClient) -> None:
    token = issue_token(SECRET, subject="ops", platform_role="platform_operator")
    assert await _statuses(client, token) == {
        "/platform/admin": 403,
        "/platform/ops": 200,
        "/tenant": 403,
        "/audit": 403,
    }
    body = (await client.get("/platform/admin", headers=_bearer(token))).json()["error"]
    assert body["code"] == "forbidden" and body["details"] == {"platform_role": "platform_admin"}


async def test_tenant_owner_key_reaches_no_platform_route(client: httpx.AsyncClient, urls: Urls) -> None:
    created = await create_tenant(urls.admin, name=unique_name("Deps"), pepper=PEPPER)
    assert await _statuses(client, created.api_key) == {
        "/platform/admin": 403,
        "/platform/ops": 403,
        "/tenant": 200,
        "/audit": 200,
    }
    viewer = issue_token(SECRET, subject="v", tenant_id=created.tenant_id, roles=("viewer",))
    assert await _statuses(client, viewer) == {
        "/platform/admin": 403,
        "/platform/ops": 403,
        "/tenant": 200,
        "/audit": 403,
    }
    # A tenant principal that also holds a platform role is both.
    both = issue_token(
        SECRET, subject="b", tenant_id=created.tenant_id, roles=("owner",), platform_role="platform_operator"
    )
    assert await _statuses(client, both) == {
        "/platform/admin": 403,
        "/platform/ops": 200,
        "/tenant": 200,
        "/audit": 200,
    }


async def test_no_or_bad_credentials_are_401_with_a_challenge(client: httpx.AsyncClient) -> None:
    for headers in ({}, _bearer("ak_nope"), _bearer("a.b.c"), {"Authorization": "Basic eDp5"}):
        for path in ("/platform/admin", "/tenant", "/audit"):
            response = await client.get(path, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "unauthenticated"
