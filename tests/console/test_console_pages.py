"""The console against a real gateway: signing in, sessions, pages, and what each kind of user may reach.

Every page must refuse exactly what the API refuses: another tenant's ids are 404, a role without the
permission is 403, tenant credentials are 403 on operator pages, and a revoked key or suspended tenant ends
the session.
"""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from agents.sealed_records import APPROVALS, seal_fields
from db.database import Database, run_sql
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.console.console_client import Console, signed_in
from tests.e2e.agent_world import run_db
from tests.e2e.platform import Platform


@pytest.fixture(scope="module")
def tenant_a(platform: Platform) -> tuple[str, str]:
    return new_tenant(platform, "Console A")


@pytest.fixture(scope="module")
def tenant_b(platform: Platform) -> tuple[str, str]:
    return new_tenant(platform, "Console B")


@pytest.fixture(scope="module")
def conversation_a(console_gateway: ConsoleGateway, tenant_a: tuple[str, str]) -> str:
    api = httpx.Client(base_url=console_gateway.url, headers={"Authorization": f"Bearer {tenant_a[1]}"})
    created = api.post("/v1/conversations", json={"agent": "support", "channel": "web"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _api(gateway: ConsoleGateway, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_a_bad_credential_opens_no_session(console_gateway: ConsoleGateway) -> None:
    console = Console(console_gateway.url)
    answer = console.sign_in("ak_live_" + "x" * 40)
    assert answer.status_code == 401 and "aiaas_session" not in answer.headers.get("set-cookie", "")
    assert "invalid, expired or revoked" in answer.text
    # Without a session every page sends the browser to sign in, never shows data.
    page = console.get("/console/conversations")
    assert page.status_code == 303 and page.headers["location"].startswith("/console/sign-in")


def test_sign_in_sets_a_hardened_cookie_and_refuses_a_foreign_origin(
    console_gateway: ConsoleGateway, tenant_a: tuple[str, str]
) -> None:
    console = Console(console_gateway.url)
    answer = console.sign_in(tenant_a[1])
    cookie = answer.headers["set-cookie"].lower()
    assert answer.status_code == 303 and "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    # Plain-http development: not Secure (the browser would drop it); prod or HTTPS sets it.
    assert "secure" not in cookie
    assert tenant_a[1] not in answer.headers["set-cookie"]
    # Login CSRF: a form posted from another site signs nobody in.
    forged = Console(console_gateway.url).http.post(
        "/console/sign-in", data={"credential": tenant_a[1]}, headers={"Origin": "http://evil.example"}
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers


def test_conversations_list_and_detail_with_run_link(
    console_gateway: ConsoleGateway, tenant_a: tuple[str, str], conversation_a: str
) -> None:
    with signed_in(console_gateway.url, tenant_a[1]) as console:
        listed = console.get("/console/conversations")
        assert listed.status_code == 200 and conversation_a in listed.text
        assert "default-src 'self'" in listed.headers["content-security-policy"]
        filtered = console.get("/console/conversations", params={"agent": "nobody"})
        assert conversation_a not in filtered.text and "No conversations match" in filtered.text
        bad = console.get("/console/conversations", params={"agent": "' OR 1=1 --"})
        assert bad.status_code == 422 and "agent" in bad.text
        forged_cursor = console.get("/console/conversations", params={"cursor": "eyJ4Ijo.AAAA"})
        assert forged_cursor.status_code == 400
        detail = console.get(f"/console/conversations/{conversation_a}")
        assert detail.status_code == 200
        workflow = f"{tenant_a[0]}%3Aconv%3A{conversation_a}"
        assert f"{console_gateway.temporal_ui_url}/namespaces/default/workflows/{workflow}" in detail.text


def test_conversation_pages_page_through_with_signed_cursors(
    console_gateway: ConsoleGateway, platform: Platform
) -> None:
    _tenant, key = new_tenant(platform, "Console paging")
    api = _api(console_gateway, key)
    made = [api.post("/v1/conversations", json={"agent": "support"}).json()["id"] for _ in range(55)]
    with signed_in(console_gateway.url, key) as console:
        first = console.get("/console/conversations")
        assert sum(cid in first.text for cid in made) == 50
        next_link = first.text.split('id="next-page" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        second = console.get(f"/console/conversations{next_link}")
        assert sum(cid in second.text for cid in made) == 5 and 'id="next-page"' not in second.text


def test_another_tenant_sees_nothing_of_a(
    console_gateway: ConsoleGateway, tenant_a: tuple[str, str], tenant_b: tuple[str, str], conversation_a: str
) -> None:
    with signed_in(console_gateway.url, tenant_b[1]) as console:
        assert conversation_a not in console.get("/console/conversations").text
        detail = console.get(f"/console/conversations/{conversation_a}")
        assert detail.status_code == 404 and conversation_a not in detail.text.replace(
            f"/conversations/{conversation_a}", ""
        )
        ticket = console.post(f"/console/conversations/{conversation_a}/stream-ticket")
        assert ticket.status_code == 404
        for page in ("/console/tenants", "/console/health"):
            refused = console.get(page)
            assert refused.status_code == 403 and tenant_a[0] not in refused.text


def test_a_role_without_the_permission_gets_the_apis_403(
    console_gateway: ConsoleGateway, tenant_a: tuple[str, str]
) -> None:
    viewer_key = _api(console_gateway, tenant_a[1]).post("/v1/api-keys", json={"name": "v", "role": "viewer"})
    with signed_in(console_gateway.url, viewer_key.json()["api_key"]) as console:
        assert console.get("/console/conversations").status_code == 200
        refused = console.get("/console/api-keys")
        assert refused.status_code == 403 and "keys:manage" in refused.text
        inbox = console.get("/console/approvals")
        assert inbox.status_code == 200 and "Nothing waits" in inbox.text


def test_forms_need_the_sessions_csrf_token_and_origin(
    console_gateway: ConsoleGateway, tenant_a: tuple[str, str]
) -> None:
    with signed_in(console_gateway.url, tenant_a[1]) as console:
        name = f"csrf-{uuid.uuid4().hex[:6]}"
        assert console.post("/console/api-keys", {"name": name}, csrf=False).status_code == 403
        wrong = console.post("/console/api-keys", {"name": name, "csrf_token": "x" * 43}, csrf=False)
        assert wrong.status_code == 403
        cross_site = console.post("/console/api-keys", {"name": name}, origin="http://evil.example")
        assert cross_site.status_code == 403
        assert name not in console.get("/console/api-keys").text
        made = console.post("/console/api-keys", {"name": name})
        assert made.status_code == 201 and 'id="new-key"' in made.text


def test_revoking_a_key_in_the_console_stops_the_api_and_its_sessions(
    console_gateway: ConsoleGateway, tenant_a: tuple[str, str]
) -> None:
    with signed_in(console_gateway.url, tenant_a[1]) as owner:
        created = owner.post("/console/api-keys", {"name": "to-revoke", "role": "admin"})
        key = created.text.split('id="new-key">', 1)[1].split("<", 1)[0]
        key_id = created.text.split('data-name="to-revoke"', 1)[0].rsplit('data-key="', 1)[1].split('"', 1)[0]
        assert _api(console_gateway, key).get("/v1/conversations").status_code == 200
        with signed_in(console_gateway.url, key) as doomed:
            assert doomed.get("/console/conversations").status_code == 200
            assert owner.post(f"/console/api-keys/{key_id}/revoke").status_code == 303
            assert _api(console_gateway, key).get("/v1/conversations").status_code == 401
            ended = doomed.get("/console/conversations")
            assert ended.status_code == 303 and ended.headers["location"].startswith("/console/sign-in")


def test_sign_out_ends_the_session_on_the_server(console_gateway: ConsoleGateway, tenant_a: tuple[str, str]) -> None:
    with signed_in(console_gateway.url, tenant_a[1]) as console:
        cookie = console.http.cookies["aiaas_session"]
        assert console.post("/console/sign-out").status_code == 303
        replayed = httpx.get(f"{console_gateway.url}/console/conversations", cookies={"aiaas_session": cookie})
        assert replayed.status_code == 303


def test_only_console_paths_come_back_after_sign_in(console_gateway: ConsoleGateway, tenant_a: tuple[str, str]) -> None:
    for target in ("//evil.example/x", "https://evil.example", "/console\\..\\x"):
        console = Console(console_gateway.url)
        answer = console.http.post(
            "/console/sign-in",
            data={"credential": tenant_a[1], "next": target},
            headers={"Origin": console_gateway.url},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/console/"


def test_operator_creates_suspends_and_resumes_a_tenant(console_gateway: ConsoleGateway, platform: Platform) -> None:
    with signed_in(console_gateway.url, console_gateway.operator_token(platform)) as ops:
        name = f"Made in console {uuid.uuid4().hex[:6]}"
        made = ops.post("/console/tenants", {"name": name, "plan": "pro"})
        assert made.status_code == 201 and name in made.text
        owner_key = made.text.split('id="owner-key">', 1)[1].split("<", 1)[0]
        tenant_id = made.text.split(f'data-name="{name}"', 1)[0].rsplit('data-tenant="', 1)[1].split('"', 1)[0]
        assert _api(console_gateway, owner_key).get("/v1/conversations").status_code == 200
        with signed_in(console_gateway.url, owner_key) as owner:
            assert ops.post(f"/console/tenants/{tenant_id}/suspend").status_code == 303
            suspended = owner.get("/console/conversations")
            assert suspended.status_code == 403 and "tenant_suspended" in suspended.text
            assert ops.post(f"/console/tenants/{tenant_id}/resume").status_code == 303
            assert owner.get("/console/conversations").status_code == 200
        health = ops.get("/console/health")
        assert health.status_code == 200 and "postgres" in health.text
        # An operator acts for the platform, not a tenant: tenant pages answer as the API does.
        assert ops.get("/console/conversations").status_code == 403


def test_a_platform_operator_may_not_manage_tenants(console_gateway: ConsoleGateway, platform: Platform) -> None:
    with signed_in(console_gateway.url, console_gateway.operator_token(platform, "platform_operator")) as ops:
        assert ops.get("/console/tenants").status_code == 403
        assert ops.get("/console/health").status_code == 200


def _payloads() -> dict[str, object]:
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(b'"hi"').decode(),
    }
    return {"payloads": [plain]}


def test_the_codec_accepts_an_operators_console_session_from_temporal_ui_only(
    console_gateway: ConsoleGateway, platform: Platform, tenant_a: tuple[str, str]
) -> None:
    ui = console_gateway.temporal_ui_url
    with signed_in(console_gateway.url, console_gateway.operator_token(platform, "platform_operator")) as ops:
        decoded = ops.http.post("/codec/decode", json=_payloads(), headers={"Origin": ui})
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-credentials"] == "true"
        assert decoded.headers["access-control-allow-origin"] == ui
        # The cookie alone, from a page of another origin, is no credential.
        elsewhere = ops.http.post("/codec/decode", json=_payloads(), headers={"Origin": "http://evil.example"})
        assert elsewhere.status_code == 401
        assert ops.http.post("/codec/decode", json=_payloads()).status_code == 401
    with signed_in(console_gateway.url, tenant_a[1]) as tenant:
        refused = tenant.http.post("/codec/decode", json=_payloads(), headers={"Origin": ui})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def _pending_approval(db: Database, tenant_id: str, conversation_id: str, approval_id: str) -> None:
    """A pending approval sealed as the approvals activity seals it."""
    fields = {"arguments": {"reason": "sealed-reason-7f3"}, "note": ""}
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO approvals (id, tenant_id, conversation_id, message_id, call_id, tool, arguments, note, status,"
            " fields_sealed, key_version, expires_at) VALUES (:id, :tid, :cid, :mid, 'c1', 'orders.refund',"
            " CAST(:arguments AS jsonb), :note, 'pending', :fields_sealed, :key_version, now() + interval '1 day')",
            {
                "id": approval_id,
                "tid": tenant_id,
                "cid": conversation_id,
                "mid": str(uuid.uuid4()),
                **await seal_fields(session, tenant_id, APPROVALS, approval_id, fields),
            },
        )


def test_the_inbox_shows_a_sealed_approval_in_clear(
    platform: Platform, console_gateway: ConsoleGateway, tenant_a: tuple[str, str], conversation_a: str
) -> None:
    approval_id = str(uuid.uuid4())
    run_db(platform.settings, lambda db: _pending_approval(db, tenant_a[0], conversation_a, approval_id))
    with signed_in(console_gateway.url, tenant_a[1]) as console:
        inbox = console.get("/console/approvals")
    assert inbox.status_code == 200 and approval_id in inbox.text and "sealed-reason-7f3" in inbox.text
