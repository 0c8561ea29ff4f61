"""Every console route, enumerated from the console's routers, attacked with another tenant's session.

The API's attack suite (tests/api/security) walks the OpenAPI schema, which leaves the console out (its
pages are not API operations), so this suite does the same for the console: whatever route is added is
covered without being listed here. For each route, with A's ids in the path:
- no session: sent to sign in, nothing shown;
- B's session: 403 or 404, never a page or a change of A's, and no A fingerprint in any answer;
- a POST without the session's CSRF token, or from another origin: 403, whoever is signed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute

from console.app import ROUTERS
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.console.console_client import Console, signed_in
from tests.e2e.platform import Platform

SIGN_IN = "/console/sign-in"
# Before any session by design; the OpenID Connect routes' refusals are tests/console/test_oidc_signin.py's.
OPEN = {("GET", SIGN_IN), ("POST", SIGN_IN), ("GET", f"{SIGN_IN}/oidc"), ("GET", "/console/oidc/callback")}
VALUES = {"action": "suspend", "version": "1", "n": "0"}
# A public address literal: passes the SSRF check without DNS (deliveries to it just fail and retry).
PUBLIC_URL = "https://93.184.215.14/hooks"


def _routes() -> list[tuple[str, str]]:
    found = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            found.extend((method, route.path) for method in sorted(route.methods) if (method, route.path) not in OPEN)
    return found


ROUTES = _routes()


@pytest.fixture(scope="module")
def victim(console_gateway: ConsoleGateway, platform: Platform) -> Iterator[dict[str, str]]:
    tenant_id, key = new_tenant(platform, "Console victim")
    api = httpx.Client(base_url=console_gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    conversation = api.post("/v1/conversations", json={"agent": "support"}).json()["id"]
    key_id = api.get("/v1/api-keys").json()["items"][0]["id"]
    name = f"victim{uuid.uuid4().hex[:8]}"
    saved = api.put(f"/v1/agents/{name}", json=_agent_body())
    assert saved.status_code == 201, saved.text
    endpoint = api.post("/v1/webhooks/endpoints", json={"url": PUBLIC_URL}).json()["id"]
    delivery = api.post(f"/v1/webhooks/endpoints/{endpoint}/test").json()["id"]
    collection = api.post("/v1/knowledge/collections", json={"name": "victim knowledge"}).json()["id"]
    document = api.post(
        f"/v1/knowledge/collections/{collection}/documents", files={"file": ("a.md", b"# A\nonly A", "text/markdown")}
    ).json()["id"]
    invitation = api.post("/v1/tenant/invitations", json={"email": "victim-staff@example.com", "role": "admin"})
    assert invitation.status_code == 201, invitation.text
    yield {
        "tenant_id": tenant_id,
        "key": key,
        "conversation_id": conversation,
        "key_id": key_id,
        "approval_id": str(uuid.uuid4()),
        "name": name,
        "endpoint_id": endpoint,
        "delivery_id": delivery,
        "collection_id": collection,
        "document_id": document,
        "invitation_id": invitation.json()["id"],
        # No report or run exists in a fresh tenant: an id of nobody's answers as another tenant's would.
        "report_id": str(uuid.uuid4()),
        "run_id": str(uuid.uuid4()),
    }
    api.close()


AGENT_PROMPT = "Only tenant A may read this prompt."


def _agent_body() -> dict[str, object]:
    limits = {
        "max_steps_per_turn": 8,
        "max_steps_per_conversation": 200,
        "no_progress_repeats": 3,
        "oscillation_window": 6,
        "max_tokens_per_turn": 20000,
        "max_cost_usd_per_turn": 1.0,
    }
    return {
        "description": "agent of tenant A",
        "system_prompt": AGENT_PROMPT,
        "tools": [],
        "default_tier": "small",
        "handoff_targets": [],
        "limits": limits,
    }


@pytest.fixture(scope="module")
def attacker_key(platform: Platform) -> str:
    return new_tenant(platform, "Console attacker")[1]


@pytest.fixture
def attacker(console_gateway: ConsoleGateway, attacker_key: str) -> Iterator[Console]:
    # A session per test: one of the routes is signing out.
    with signed_in(console_gateway.url, attacker_key) as console:
        yield console


def _path(template: str, victim: dict[str, str]) -> str:
    path = template
    for name, value in {**victim, **VALUES}.items():
        path = path.replace("{" + name + "}", value)
    return path


def _fingerprints(victim: dict[str, str]) -> list[str]:
    # Not the agent's name: a 404 names the agent asked for, the same for A's agent as for a name nobody used.
    return [
        victim["tenant_id"], victim["key"][:15], victim["key_id"], victim["endpoint_id"], AGENT_PROMPT,
        victim["collection_id"], victim["document_id"], victim["invitation_id"],
    ]  # fmt: skip


def test_every_console_route_is_covered() -> None:
    paths = {path for _method, path in ROUTES}
    assert {"/console/conversations", "/console/api-keys", "/console/tenants", "/console/approvals"} <= paths
    assert {"/console/agents/{name}", "/console/budgets", "/console/usage", "/console/webhooks"} <= paths
    assert {"/console/agents/{name}/diff", "/console/tools", "/console/tools/{name}/breaker/reset"} <= paths
    assert {
        "/console/drift/{report_id}",
        "/console/evals/{run_id}",
        "/console/webhooks/deliveries/{delivery_id}",
    } <= paths
    assert {
        "/console/knowledge/collections/{collection_id}",
        "/console/knowledge/collections/{collection_id}/documents",
        "/console/knowledge/collections/{collection_id}/events",
        "/console/knowledge/collections/{collection_id}/documents/{document_id}/reingest",
        "/console/knowledge/search",
    } <= paths
    assert {"/console/members", "/console/members/invitations/{invitation_id}/revoke"} <= paths
    assert {
        "/console/members/{user_id}/role",
        "/console/members/{user_id}/remove",
        "/console/invitations/accept",
        "/console/choose-tenant",
    } <= paths


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_no_session_shows_and_changes_nothing(
    console_gateway: ConsoleGateway, victim: dict[str, str], method: str, template: str
) -> None:
    answer = httpx.request(
        method, console_gateway.url + _path(template, victim), headers={"Origin": console_gateway.url}
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith(SIGN_IN)


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_another_tenants_session_reaches_nothing_of_a(
    console_gateway: ConsoleGateway, victim: dict[str, str], attacker: Console, method: str, template: str
) -> None:
    path = _path(template, victim)
    if method == "GET":
        answer = attacker.get(path)
        # A key's session has no tenant to choose: the picker sends it on to the console's home.
        home = ("/console/conversations", "/console/")
        assert answer.status_code in (200, 403, 404) or answer.headers["location"] in home
    else:
        no_token = attacker.post(path, {"decision": "approve", "name": "x"}, csrf=False)
        assert no_token.status_code == 403 and "csrf_failed" in no_token.text
        cross_site = attacker.post(path, {"decision": "approve", "name": "x"}, origin="http://evil.example")
        assert cross_site.status_code == 403 and "csrf_failed" in cross_site.text
        answer = attacker.post(path, {"decision": "approve", "name": "x"})
        if "{" in template:
            # A's ids in the path: as absent (404) or not the attacker's to touch (403).
            assert answer.status_code in (403, 404), answer.text
    for fingerprint in _fingerprints(victim):
        assert fingerprint not in answer.text
    # Whatever was tried, A's key still works.
    still = httpx.get(f"{console_gateway.url}/v1/conversations", headers={"Authorization": f"Bearer {victim['key']}"})
    assert still.status_code == 200
