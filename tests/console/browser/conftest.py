"""Playwright on Debian's Chromium (`/usr/bin/chromium`): never a browser of Playwright's own download.

One browser per test module, a fresh context (cookies, storage) per test; each test saves screenshots under
`build/screenshots/` (kept as CI artefacts). Without `/usr/bin/chromium` the tests skip, unless
`AIAAS_REQUIRE_TOOLS` is set (as in `.ci/run`, which installs it), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.console.conftest import ConsoleGateway

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"
# Generous for a busy 2-core machine; a journey that works waits far less.
TIMEOUT_MS = 30_000


# Module scope, not session: while Playwright's sync API is open it keeps an event loop running in the main
# thread, and every async test collected after the browser tests would then fail to start its own.
@pytest.fixture(scope="module")
def browser(console_gateway: ConsoleGateway) -> Iterator[Browser]:
    # After the platform: its fixtures call `asyncio.run`, refused while Playwright's loop runs here.
    with chromium() as launched:
        yield launched


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, headless; skipped when it is not installed (unless tools are required)."""
    if not CHROMIUM.exists() and not os.environ.get("AIAAS_REQUIRE_TOOLS"):
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        opened.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-last.png"), full_page=True)
        context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
