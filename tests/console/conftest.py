"""A gateway for the console tests, on the stack's Temporal UI codec port when free, knowing the UI's URL.

The shared test gateway is started without `temporal_ui_url`; the console's run links and the codec's
allowed origin need it, and Temporal UI (started by the stack with `--ui-codec-endpoint`) calls the codec at
the port the stack chose for a gateway, so this one listens there.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from core.stack.ports import free_port
from core.stack.process import ManagedProcess
from policies.circuit_breaker import CircuitBreaker
from tenancy.jwt import dev_secret, issue_token
from tenancy.tenants import create_tenant
from tests.console.oidc_world import oidc_console, oidc_world  # noqa: F401  (fixtures, shared with the browser journeys)
from tests.e2e.platform import Platform, platform_env


@dataclass(frozen=True)
class ConsoleGateway:
    url: str
    temporal_ui_url: str

    def operator_token(self, platform: Platform, role: str = "platform_admin") -> str:
        return issue_token(dev_secret(platform.data_dir), subject=f"ops-{uuid.uuid4().hex[:6]}", platform_role=role)


def _codec_port(ui_url: str) -> int | None:
    """The port of the codec endpoint Temporal UI was started with, when that port is free now."""
    try:
        endpoint = httpx.get(f"{ui_url}/api/v1/settings", timeout=5).json()["Codec"]["Endpoint"]
    except (httpx.HTTPError, KeyError, ValueError):
        return None
    port = urlsplit(endpoint).port
    return port if port and free_port_if_free(port) else None


def free_port_if_free(port: int) -> int | None:

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return None
    return port


@pytest.fixture(scope="session")
def console_gateway(platform: Platform) -> Iterator[ConsoleGateway]:
    ui_url = platform.settings.temporal_ui_url or ""
    port = _codec_port(ui_url) if ui_url else None
    port = port or free_port()
    process = ManagedProcess(
        "console-gateway",
        [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        data_dir=platform.data_dir,
        env={**platform_env(platform.settings, platform.data_dir), "AIAAS_TEMPORAL_UI_URL": ui_url},
    )
    url = f"http://127.0.0.1:{port}"
    process.start()
    try:
        process.wait_ready(lambda: httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200, timeout=180)
        yield ConsoleGateway(url=url, temporal_ui_url=ui_url)
    finally:
        process.stop()


def new_tenant(platform: Platform, label: str) -> tuple[str, str]:
    """A tenant and its owner's key. Run in a thread of its own: Playwright's sync API keeps an event loop
    running in the test's thread while a browser is open, where `asyncio.run` is refused."""
    settings = platform.settings
    work = create_tenant(
        settings.database_url or "",
        name=f"{label} {uuid.uuid4().hex[:6]}",
        plan="pro",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    with ThreadPoolExecutor(max_workers=1) as thread:
        created = thread.submit(asyncio.run, work).result()
    return created.tenant_id, created.api_key


def open_circuit(platform: Platform, tenant_id: str, tool: str) -> None:
    """Fail `tool` for the tenant until its circuit opens, through the breaker the workers use (in a thread of
    its own, like `new_tenant`)."""

    async def fail_until_open() -> None:
        redis = Redis.from_url(platform.settings.redis_url or "")
        breaker = CircuitBreaker(redis)
        try:
            for _ in range(breaker.failure_threshold):
                await breaker.record_failure(tenant_id, tool)
        finally:
            await redis.aclose()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, fail_until_open()).result()
