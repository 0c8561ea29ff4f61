"""A gateway whose console signs in through the test identity provider, and the people who sign in.

The gateway is a real process trusting the provider as the API's JWT issuer (`AIAAS_JWT_ISSUER`, its JWKS,
the API audience) with the console registered as a confidential client. Tenants, memberships and platform
roles are real rows, written as `aiaas` writes them.
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.stack.ports import free_port
from core.stack.process import ManagedProcess
from db.database import Database
from tenancy.tenants import ensure_user, set_member_role, set_platform_role
from tests.console.console_client import Console
from tests.console.oidc_provider import API_AUDIENCE, CLIENT_ID, CLIENT_SECRET, ProviderServer, TestIdentityProvider
from tests.e2e.platform import Platform, platform_env

PROVIDER_NAME = "Test IdP"
_ERROR_CODE = re.compile(r'id="sign-in-error" data-code="([^"]*)"')


def _run(work: Coroutine[Any, Any, Any]) -> Any:
    # A thread of its own: Playwright's sync API keeps an event loop running in the test's thread.
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result()


@dataclass(frozen=True)
class OidcWorld:
    url: str
    provider: TestIdentityProvider
    platform: Platform

    def member(self, tenant_id: str, role: str) -> str:
        """A new person with `role` in the tenant, by membership (their tokens carry no roles); their subject."""
        subject = f"user-{uuid.uuid4().hex[:8]}"
        self.join(subject, tenant_id, role)
        return subject

    def join(self, subject: str, tenant_id: str, role: str) -> None:
        """Make a person (by subject, created when new) a member of the tenant with `role`."""

        async def add() -> None:
            db = Database(self.platform.settings.database_url or "", pool_size=1)
            try:
                async with db.admin_session() as session:
                    user_id = await ensure_user(session, subject=subject, email=f"{subject}@example.test")
                async with db.tenant_session(tenant_id) as session:
                    await set_member_role(session, tenant_id=tenant_id, user_id=user_id, role=role, actor="test")
            finally:
                await db.close()

        _run(add())

    def operator(self, role: str) -> str:
        """A new person holding a platform role in the database (not in their tokens); their subject."""
        subject = f"ops-{uuid.uuid4().hex[:8]}"

        async def grant() -> None:
            db = Database(self.platform.settings.database_url or "", pool_size=1)
            try:
                async with db.admin_session() as session:
                    await set_platform_role(session, subject=subject, role=role)
            finally:
                await db.close()

        _run(grant())
        return subject


def sign_in(world: OidcWorld, client: httpx.Client, next: str = "/console/conversations") -> httpx.Response:
    """Click "Sign in with ...", let the provider approve, and follow its redirect back: the callback's answer."""
    started = client.get(f"{world.url}/console/sign-in/oidc", params={"next": next})
    assert started.status_code == 303, started.text
    approved = client.get(started.headers["location"])
    assert approved.status_code == 302, approved.text
    return client.get(approved.headers["location"])


def authorize_query(response: httpx.Response) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(response.headers["location"]).query).items()}


def error_code(response: httpx.Response) -> str | None:
    found = _ERROR_CODE.search(response.text)
    return found.group(1) if found else None


@pytest.fixture(scope="session")
def oidc_world(platform: Platform) -> Iterator[OidcWorld]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    provider = TestIdentityProvider(redirect_uri=f"{url}/console/oidc/callback")
    server = ProviderServer(provider)
    server.start()
    env = {
        **platform_env(platform.settings, platform.data_dir),
        "AIAAS_JWT_ISSUER": provider.issuer,
        "AIAAS_JWT_JWKS_URL": f"{provider.issuer}/jwks",
        "AIAAS_JWT_AUDIENCE": API_AUDIENCE,
        "AIAAS_OIDC_CLIENT_ID": CLIENT_ID,
        "AIAAS_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "AIAAS_OIDC_PROVIDER_NAME": PROVIDER_NAME,
    }
    process = ManagedProcess(
        "oidc-gateway",
        [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        data_dir=platform.data_dir,
        env=env,
    )
    process.start()
    try:
        process.wait_ready(lambda: httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200, timeout=180)
        yield OidcWorld(url=url, provider=provider, platform=platform)
    finally:
        process.stop()
        server.stop()


@pytest.fixture
def oidc_console(oidc_world: OidcWorld) -> Iterator[Console]:
    """A browser-like client of the OIDC gateway, with no session yet."""
    opened = Console(oidc_world.url)
    try:
        yield opened
    finally:
        opened.close()
