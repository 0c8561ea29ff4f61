"""An operator signed in to the console opens a conversation's run in Temporal UI and reads its payloads in
clear; a tenant user, signed in the same way, sees them encrypted.

The development Temporal UI (`temporal server start-dev`) takes a codec endpoint (`--ui-codec-endpoint`) but
no "include credentials" flag, so the operator ticks it once in the UI's codec settings, which the UI keeps
in the browser's local storage; this test sets the same keys.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.console.browser.conftest import shot
from tests.console.browser.test_journeys import sign_in
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.e2e.platform import Platform
from tests.e2e.sse import read_frames


def _conversation_with(gateway: ConsoleGateway, key: str, text: str) -> str:
    api = httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    cid = str(api.post("/v1/conversations", json={"agent": "support"}).json()["id"])
    assert api.post(f"/v1/conversations/{cid}/messages", json={"content": text}).status_code == 202
    read_frames(api, cid, lambda fs: any(f.event == "message.completed" for f in fs), timeout=90)
    return cid


def _codec_settings(page: Page, gateway: ConsoleGateway) -> None:
    page.goto(gateway.temporal_ui_url + "/")
    settings = {
        "endpoint": f"{gateway.url}/codec",
        "includeCredentials": True,
        "passAccessToken": False,
        "overrideRemoteCodecConfiguration": True,
    }
    for name, value in settings.items():
        page.evaluate("([k, v]) => localStorage.setItem(k, v)", [name, json.dumps(value)])


def _open_run(page: Page, gateway: ConsoleGateway, workflow_id: str) -> int:
    """Open the run as the console links it; the status of the UI's first codec call."""
    with page.expect_response(lambda r: r.url.startswith(f"{gateway.url}/codec/decode")) as decode:
        page.goto(f"{gateway.temporal_ui_url}/namespaces/default/workflows/{quote(workflow_id, safe='')}")
    expect(page.get_by_text("Run ID")).to_be_visible()
    return decode.value.status


def test_an_operator_reads_decoded_payloads_in_temporal_ui_and_a_tenant_user_cannot(
    page: Page, browser: Browser, console_gateway: ConsoleGateway, platform: Platform
) -> None:
    tenant_id, key = new_tenant(platform, "Browser codec")
    text = f"secret-{uuid.uuid4().hex[:8]}"
    cid = _conversation_with(console_gateway, key, text)
    workflow_id = f"{tenant_id}:conv:{cid}"

    sign_in(page, console_gateway, console_gateway.operator_token(platform, "platform_operator"), "/console/health")
    _codec_settings(page, console_gateway)
    assert _open_run(page, console_gateway, workflow_id) == 200
    # The run's input, decrypted: the conversation's own fields in clear.
    expect(page.get_by_text(f'"conversation_id": "{cid}"').first).to_be_visible()
    shot(page, "temporal-ui-operator")
    page.get_by_text("Event History").first.click()
    expect(page.get_by_text(text).first).to_be_attached()

    context = browser.new_context()
    try:
        tenant_page = context.new_page()
        sign_in(tenant_page, console_gateway, key)
        _codec_settings(tenant_page, console_gateway)
        assert _open_run(tenant_page, console_gateway, workflow_id) == 403
        tenant_page.wait_for_timeout(2000)
        shot(tenant_page, "temporal-ui-tenant-user")
        expect(tenant_page.get_by_text(f'"conversation_id": "{cid}"')).to_have_count(0)
        expect(tenant_page.get_by_text(text)).to_have_count(0)
    finally:
        context.close()
