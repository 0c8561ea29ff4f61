"""`POST /v1/signup` and `/v1/signup/verify` on the running platform (real gateway, worker, Temporal, Postgres,
Redis; mail written under the worker's data dir): the whole flow to a working first key shown once and a trial
subscription, the same answer for an address that owns a tenant, clear refusals of malformed and disposable
input, tampered, expired, reused and foreign tokens, and the per-domain abuse limit."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from contracts.signup import signup_workflow_id
from core.redis_clients import command_client
from policies.signup_limits import bucket_key
from tenancy.signup_tokens import SignupToken, email_digest, issue, verify
from tests.e2e.platform import Platform

TOKEN = re.compile(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _mail(platform: Platform, email: str, kind: str) -> str:
    mail = Path(platform.data_dir) / "mail"
    # The worker may still be starting on a busy machine (it counts as ready once alive, before it polls).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for path in mail.glob("*.eml") if mail.is_dir() else []:
            parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
            if parsed["To"] == email and parsed["X-Aiaas-Kind"] == kind:
                return str(parsed.get_body().get_content())  # type: ignore[union-attr]
        time.sleep(0.1)
    raise AssertionError(f"no {kind} mail to {email}")


def _email() -> str:
    return f"owner.{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def anon(platform: Platform) -> httpx.Client:
    with httpx.Client(base_url=platform.base_url, timeout=30.0) as client:
        yield client  # type: ignore[misc]


def _sign_up(anon: httpx.Client, email: str, company: str = "Acme") -> httpx.Response:
    return anon.post("/v1/signup", json={"company": f"{company} {uuid.uuid4().hex[:6]}", "email": email})


def _eventually_subscribed(platform: Platform, key: str) -> dict:
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        for _ in range(100):
            response = api.get("/v1/subscription")
            if response.status_code == 200:
                return response.json()
            time.sleep(0.1)
    raise AssertionError(f"no subscription: {response.status_code} {response.text}")


def test_signup_to_a_working_first_key_shown_once(platform: Platform, anon: httpx.Client) -> None:
    email = _email()
    accepted = _sign_up(anon, email)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"status": "verification_sent", "expires_in_seconds": 86400}
    assert _sign_up(anon, email).json() == accepted.json(), "a repeat while pending is the same signup"
    token = TOKEN.findall(_mail(platform, email, "signup.verify"))[0]

    done = anon.post("/v1/signup/verify", json={"token": token})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["plan"] == "pro" and body["trial_days"] == 14 and body["api_key"].startswith("ak_")
    subscription = _eventually_subscribed(platform, body["api_key"])
    assert subscription["status"] == "trialing" and subscription["plan"] == "pro"

    reused = anon.post("/v1/signup/verify", json={"token": token})
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "token_used"
    assert body["api_key"] not in reused.text

    # The address owns a tenant now: the same answer, and the mail (not the API) says so.
    again = _sign_up(anon, email)
    assert (again.status_code, again.json()) == (accepted.status_code, accepted.json())
    assert not TOKEN.search(_mail(platform, email, "signup.existing"))


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"company": "Acme", "email": "not-an-address"}, "invalid_email"),
        ({"company": "Acme", "email": "ada@mailinator.com"}, "disposable_email"),
        ({"company": "Acme", "email": "ada@sub.guerrillamail.com"}, "disposable_email"),
        ({"company": " ", "email": "ada@example.com"}, "invalid_company"),
        ({"company": "Acme"}, "invalid_request"),
        ({"company": "Acme", "email": "ada@example.com", "plan": "enterprise"}, "invalid_request"),
    ],
)
def test_malformed_and_disposable_input_is_422(anon: httpx.Client, payload: dict, code: str) -> None:
    response = anon.post("/v1/signup", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


def test_tampered_expired_and_foreign_tokens(platform: Platform, anon: httpx.Client) -> None:
    secret = platform.settings.signup_key()
    email = _email()
    assert _sign_up(anon, email).status_code == 202
    token = TOKEN.findall(_mail(platform, email, "signup.verify"))[0]
    claims = verify(secret, token)

    def refused(text: str, status: int, code: str) -> None:
        response = anon.post("/v1/signup/verify", json={"token": text})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text

    refused(token[:-3] + ("abc" if not token.endswith("abc") else "xyz"), 400, "invalid_token")
    refused("v1.e30.AAAA", 400, "invalid_token")
    refused(issue("not-the-platform-secret-0123456789", claims), 400, "invalid_token")
    expired = SignupToken(claims.email_digest, claims.nonce, datetime.now(UTC) - timedelta(seconds=1))
    refused(issue(secret, expired), 410, "token_expired")
    # Well signed, but naming this signup with another run's nonce: the run refuses it.
    foreign = SignupToken(claims.email_digest, uuid.uuid4().hex, claims.expires_at)
    refused(issue(secret, foreign), 400, "invalid_token")
    # Well signed for a signup that does not exist (or has ended).
    nowhere = SignupToken(email_digest(secret, _email()), claims.nonce, claims.expires_at)
    refused(issue(secret, nowhere), 409, "token_used")
    refused("x" * 600, 422, "invalid_request")
    # None of that used the real token up.
    assert anon.post("/v1/signup/verify", json={"token": token}).status_code == 200

    async def pending() -> None:
        from temporalio.client import Client

        client = await Client.connect(platform.settings.temporal_address or "")
        handle = client.get_workflow_handle(signup_workflow_id(claims.email_digest))
        assert (await handle.describe()).status is not None

    asyncio.run(pending())


def test_the_domain_limit_refuses_with_retry_after(platform: Platform, anon: httpx.Client) -> None:
    domain = f"busy-{uuid.uuid4().hex[:8]}.example.com"

    async def fill() -> None:
        redis = command_client(platform.settings)
        try:
            far = int((time.time() + 10 * 3600) * 1_000_000)
            await redis.set(bucket_key(redis, "domain", domain), str(far), px=60_000)
        finally:
            await redis.aclose()

    asyncio.run(fill())
    response = _sign_up(anon, f"ada@{domain}")
    assert response.status_code == 429, response.text
    assert response.json()["error"]["details"] == {"scope": "domain"}
    assert int(response.headers["Retry-After"]) > 0
    assert _sign_up(anon, f"ada@other-{domain}").status_code == 202, "another domain is not limited"
