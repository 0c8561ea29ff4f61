"""The web widget on a shop's page in a real browser: a visitor chats, the gateway restarts, and the widget
carries on in the same conversation, its stream resumed with `Last-Event-ID` (no answer lost or repeated).

The gateway here is one of the test's own (the suite's others must not restart), on the platform's stack;
the shop's page is served from another origin by a small HTTP server, as a customer's site would be.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, Response, expect

from core.stack.ports import free_port
from core.stack.process import ManagedProcess
from tests.console.browser.conftest import TIMEOUT_MS, shot
from tests.console.conftest import new_tenant
from tests.e2e.platform import Platform, platform_env

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>A shop</h1><script src="{gateway}/widget.js" data-key="{key}" async></script></body></html>"""


def _serve(platform: Platform, **env: str) -> Iterator[tuple[ManagedProcess, str]]:
    port = free_port()
    process = ManagedProcess(
        "widget-gateway",
        [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        data_dir=platform.data_dir,
        env={**platform_env(platform.settings, platform.data_dir), **env},
    )
    url = f"http://127.0.0.1:{port}"
    process.start()
    try:
        _ready(process, url)
        yield process, url
    finally:
        process.stop()


@pytest.fixture
def gateway(platform: Platform) -> Iterator[tuple[ManagedProcess, str]]:
    yield from _serve(platform)


@pytest.fixture
def slow_gateway(platform: Platform) -> Iterator[tuple[ManagedProcess, str]]:
    """A gateway whose `pro` plan starts one turn per 3 s with no burst: a second message is refused with 429."""
    yield from _serve(platform, AIAAS_START_RATES=json.dumps({"pro": {"per_minute": 20, "burst": 1}}))


def _ready(process: ManagedProcess, url: str) -> None:
    process.wait_ready(lambda: httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200, timeout=180)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A site of another origin (another port) serving the shop's page."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _story(api: httpx.Client) -> str:
    """What the platform holds of the widget's conversations: said when an answer does not show."""
    told = []
    listed = api.get("/v1/conversations", params={"channel": "widget"})
    if listed.status_code != 200:
        return f"conversations not listed: {listed.status_code} {listed.text[:200]}"
    for conversation in listed.json()["items"]:
        messages = api.get(f"/v1/conversations/{conversation['id']}/messages").json()["items"]
        told.append(f"{conversation['id']}: {[(m['role'], m['content'][:40]) for m in messages]}")
    return "; ".join(told) or "no widget conversation"


def _shop_page(url: str, key: str, site: Path, origin: str) -> httpx.Client:
    """A widget channel for the shop's origin and the shop's page carrying it; the tenant's API client."""
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    channel = api.post(
        "/v1/channels", json={"kind": "widget", "name": "shop", "agent": "support", "allowed_origins": [origin]}
    )
    assert channel.status_code == 201, channel.text
    (site / "index.html").write_text(PAGE.format(gateway=url, key=channel.json()["public_key"]))
    return api


def _say(page: Page, text: str) -> None:
    page.fill("#aiaas-widget input[name=q]", text)
    page.press("#aiaas-widget input[name=q]", "Enter")


def test_the_widget_keeps_its_conversation_across_a_gateway_restart(
    gateway: tuple[ManagedProcess, str], page: Page, platform: Platform, shop: tuple[Path, str]
) -> None:
    # `gateway` first: set up before the page and stopped after it, so no open stream holds its shutdown.
    process, url = gateway
    site, origin = shop
    _tenant_id, key = new_tenant(platform, "Widget shop")
    api = _shop_page(url, key, site, origin)
    resumes: list[str] = []

    def seen(request: Request) -> None:
        if request.url.endswith("/widget/v1/events") and "last-event-id" in request.headers:
            resumes.append(request.headers["last-event-id"])

    page.on("request", seen)
    page.goto(f"{origin}/index.html")
    answers = page.locator("#aiaas-widget p.agent")
    _say(page, "is the blue one in stock")
    # A whole turn on a busy machine: more than `expect`'s default five seconds.
    try:
        expect(answers.first).to_have_text("echo: is the blue one in stock", timeout=2 * TIMEOUT_MS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nstored: {_story(api)}") from None
    expect(answers).to_have_count(1)
    visitor = page.evaluate("JSON.stringify(window.sessionStorage)")

    # A crash rather than a graceful stop (which would wait for the open stream): the harder case, and fast.
    assert process.pid is not None
    os.killpg(process.pid, signal.SIGKILL)
    process.stop()
    process.start()
    _ready(process, url)
    # The widget reopens its stream by itself (every 2 s while the gateway is away), resuming after the last
    # event it showed; a message sent once it has is answered in the same conversation.
    for _ in range(120):  # up to 30 s; the page's events are delivered while it waits
        if resumes:
            break
        page.wait_for_timeout(250)
    assert resumes, "the widget never reopened its stream with Last-Event-ID"
    _say(page, "and the red one")
    expect(answers.nth(1)).to_have_text("echo: and the red one", timeout=2 * TIMEOUT_MS)
    expect(answers).to_have_count(2)
    # Nothing was repeated: the first answer is still whole and alone.
    expect(answers.first).to_have_text("echo: is the blue one in stock")
    assert page.evaluate("JSON.stringify(window.sessionStorage)") == visitor
    shot(page, "widget-after-restart")
    conversations = api.get("/v1/conversations", params={"channel": "widget"}).json()["items"]
    assert len(conversations) == 1


def test_the_widget_sends_again_after_a_429_and_the_message_is_answered_once(
    slow_gateway: tuple[ManagedProcess, str], page: Page, platform: Platform, shop: tuple[Path, str]
) -> None:
    _process, url = slow_gateway
    site, origin = shop
    _tenant_id, key = new_tenant(platform, "Busy shop")
    api = _shop_page(url, key, site, origin)
    posts: list[tuple[int, str, str | None]] = []

    def answered(response: Response) -> None:
        if response.url.endswith("/widget/v1/messages") and response.request.method == "POST":
            body = json.loads(response.request.post_data or "{}")
            posts.append((response.status, body.get("client_message_id", ""), response.headers.get("retry-after")))

    page.on("response", answered)
    page.goto(f"{origin}/index.html")
    answers = page.locator("#aiaas-widget p.agent")
    _say(page, "first question")
    _say(page, "second question")
    try:
        expect(answers).to_have_count(2, timeout=2 * TIMEOUT_MS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nposts: {posts}\nstored: {_story(api)}") from None
    expect(answers.filter(has_text="echo: first question")).to_have_count(1)
    expect(answers.filter(has_text="echo: second question")).to_have_count(1)
    expect(page.locator("#aiaas-widget p.note")).to_have_count(0)
    refused = [post for post in posts if post[0] == 429]
    assert refused, f"no message was refused by the start rate: {posts}"
    # The script read Retry-After across origins and sent the same message again, which was then taken.
    assert all(after is not None and int(after) >= 1 for _status, _cid, after in refused)
    taken = {cid for status, cid, _after in posts if status == 202}
    assert {cid for _status, cid, _after in refused} <= taken
    assert len(taken) == 2
    shot(page, "widget-after-429")
