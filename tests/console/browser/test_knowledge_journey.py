"""Journey: a tenant admin creates a knowledge collection, uploads a document and watches it become ready on
the page (the live view, no reload), sees an unsupported file refused with the API's 415, then asks a question
and reads the chunk an agent would be given, cited by file and page."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.console.browser.conftest import shot
from tests.console.browser.test_journeys import sign_in
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.e2e.platform import Platform
from tests.knowledge import documents


def test_upload_a_document_watch_it_become_ready_and_search_it(
    page: Page, console_gateway: ConsoleGateway, platform: Platform
) -> None:
    _, key = new_tenant(platform, "Browser knowledge")
    sign_in(page, console_gateway, key, "/console/knowledge")
    name = f"Help {uuid.uuid4().hex[:6]}"
    page.fill("#collection-name", name)
    # The lexical offline model: no weights to load, so the journey stays quick.
    page.fill("input[name='embedding_model']", "offline/feature-hash-256")
    page.click("#create")
    expect(page.locator("#collection-title")).to_have_text(name)
    expect(page.locator("#knowledge-live")).to_have_attribute("data-state", "open")

    marker = uuid.uuid4().hex[:8]
    policy = documents.pdf(
        ["Shipping policy\nWe ship to forty countries.", f"Return policy\nUnworn boots return within 45 days {marker}."]
    )
    page.set_input_files(
        "#upload-file", files=[{"name": "policy.pdf", "mimeType": "application/pdf", "buffer": policy}]
    )
    page.click("#upload-submit")
    row = page.locator("#documents tr[data-document]")
    expect(row).to_have_count(1)
    # Pending when the page was drawn; the live view turns it ready as the ingestion's events arrive.
    expect(row.locator(".doc-status")).to_have_text("ready", timeout=60_000)
    expect(row.locator(".doc-detail")).to_contain_text("chunks")
    shot(page, "knowledge-ready")

    page.set_input_files(
        "#upload-file", files=[{"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89PNG...."}]
    )
    page.click("#upload-submit")
    expect(page.locator("#form-error")).to_have_attribute("data-status", "415")
    expect(page.locator("#form-error")).to_contain_text("PDF, DOCX, HTML, Markdown or plain text")

    page.click("text=Try a search")
    page.fill("#search-query", f"how long to return boots {marker}")
    page.click("#search-submit")
    first = page.locator("#results li.passage").first
    expect(first.locator(".cite-file")).to_have_text("policy.pdf")
    expect(first.locator(".cite-page")).to_have_text("page 2")
    expect(first.locator(".passage-text")).to_contain_text("45 days")
    shot(page, "knowledge-search")
