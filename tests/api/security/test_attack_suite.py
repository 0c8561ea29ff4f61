"""Attacks generated for every route in the OpenAPI schema.

For each operation: no credentials, a revoked key, forged or broken JWTs (expired, not yet valid, wrong
audience, algorithm outside the allow-list, HS/RS confusion, unsigned, tampered), tenant B's key on tenant A's
ids, injection strings in path and query, and oversized bodies. Expected status codes are asserted, nothing
answers 5xx, and no response to B carries anything of A's.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest

from tenancy.jwt import dev_secret, issue_token
from tests.e2e.platform import Platform

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}
# Authenticated by a provider's signature or a widget's public key instead of a bearer credential: refused with
# 401 (no signature, no key), 403 (WhatsApp's handshake without its token) or 404 (no such channel), never
# with a `WWW-Authenticate: Bearer` challenge, which would tell a provider to send something it never sends.
SIGNED = ("/hooks/channels/", "/widget/")
# Self-serve signup needs no credential (there is no tenant yet): whatever a caller sends, the answer is a
# clean 4xx about the body or the token (tests/api/test_signup_api.py covers the tokens themselves).
OPEN = ("/v1/signup",)
INJECTIONS = ["' OR '1'='1", "../../../../etc/passwd", "%00", "<script>alert(1)</script>", "a" * 5000, "${jndi:x}"]


@dataclass
class Operation:
    method: str
    path: str
    params: list[str]
    media_type: str = "application/json"

    def url(self, values: dict[str, str]) -> str:
        path = self.path
        for name in self.params:
            path = path.replace("{" + name + "}", values.get(name, str(uuid.uuid4())))
        return path


@dataclass
class TenantA:
    tenant_id: str
    api_key: str
    conversation_id: str
    key_id: str
    secret_text: str
    collection_id: str = ""
    document_id: str = ""

    def ids(self) -> dict[str, str]:
        return {
            "conversation_id": self.conversation_id,
            "key_id": self.key_id,
            "tenant_id": self.tenant_id,
            "id": self.key_id,
            "collection_id": self.collection_id,
            "document_id": self.document_id,
        }

    def fingerprints(self) -> list[str]:
        found = [self.conversation_id, self.secret_text, self.key_id, self.api_key[:15], self.tenant_id]
        return [*found, self.collection_id, self.document_id]


def _operations(platform: Platform) -> list[Operation]:
    schema = httpx.get(f"{platform.base_url}/openapi.json", timeout=60).json()  # built on first request
    found = []
    for path, item in schema["paths"].items():
        for method in item:
            if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"} and (method.upper(), path) not in PUBLIC:
                found.append(
                    Operation(
                        method.upper(),
                        path,
                        [p["name"] for p in item[method].get("parameters", []) if p["in"] == "path"],
                        next(iter(item[method].get("requestBody", {}).get("content", {})), "application/json"),
                    )
                )
    return found


@pytest.fixture(scope="module")
def operations(platform: Platform) -> list[Operation]:
    found = _operations(platform)
    assert len(found) >= 15, [f"{o.method} {o.path}" for o in found]
    return found


@pytest.fixture(scope="module")
def victim(platform: Platform, tenant_a: tuple[str, str]) -> TenantA:
    headers = {"Authorization": f"Bearer {tenant_a[1]}"}
    with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30) as client:
        conversation = client.post("/v1/conversations", json={"agent": "support"}).json()["id"]
        secret_text = f"tenant-a-secret-{uuid.uuid4().hex}"
        message = {"content": secret_text, "client_message_id": f"victim-{uuid.uuid4().hex}"}
        posted = client.post(f"/v1/conversations/{conversation}/messages", json=message)
        for _ in range(3):  # a cold worker may not confirm the first turn in time: retried as the API advises
            if posted.status_code != 503:
                break
            posted = client.post(f"/v1/conversations/{conversation}/messages", json=message)
        assert posted.status_code == 202, posted.text
        key = client.post("/v1/api-keys", json={"name": "attack-suite"})
        assert key.status_code == 201, key.text
        collection = client.post("/v1/knowledge/collections", json={"name": f"attack-suite {uuid.uuid4().hex[:6]}"})
        assert collection.status_code == 201, collection.text
        document = client.post(
            f"/v1/knowledge/collections/{collection.json()['id']}/documents",
            files={"file": ("a.txt", f"{secret_text} in a document".encode(), "text/plain")},
        )
        assert document.status_code == 202, document.text
    return TenantA(
        tenant_a[0], tenant_a[1], conversation, key.json()["id"], secret_text, collection.json()["id"],
        document.json()["id"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def revoked_key(platform: Platform, tenant_a: tuple[str, str]) -> str:
    headers = {"Authorization": f"Bearer {tenant_a[1]}"}
    with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30) as client:
        created = client.post("/v1/api-keys", json={"name": "to-revoke"}).json()
        assert client.delete(f"/v1/api-keys/{created['id']}").status_code == 204
    return str(created["api_key"])


def _forged_tokens(platform: Platform, tenant_id: str) -> Iterator[tuple[str, str]]:
    secret = dev_secret(platform.data_dir)
    base = {"subject": "mallory", "tenant_id": tenant_id, "roles": ("owner",)}
    yield "expired", issue_token(secret, ttl_seconds=-120, **base)  # type: ignore[arg-type]
    yield "wrong audience", issue_token(secret, audience="someone-else", **base)  # type: ignore[arg-type]
    yield "wrong issuer and audience", issue_token(secret, issuer="evil", audience="evil", **base)  # type: ignore[arg-type]
    yield "not yet valid", issue_token(secret, extra={"nbf": 4_000_000_000}, **base)  # type: ignore[arg-type]
    yield "algorithm not allowed", issue_token(secret, algorithm="HS512", **base)  # type: ignore[arg-type]
    yield "wrong secret", issue_token("x" * 48, **base)  # type: ignore[arg-type]
    valid = issue_token(secret, **base)  # type: ignore[arg-type]
    head, body, signature = valid.split(".")
    yield "tampered signature", f"{head}.{body}.{signature[:-4]}AAAA"
    yield "unsigned", _unsigned({"sub": "mallory", "tenant_id": tenant_id, "roles": ["owner"], "exp": 4_000_000_000})
    # HS/RS confusion: an RS256 header over an HMAC signature made with the shared secret.
    yield "hs/rs confusion", _with_header(valid, {"alg": "RS256", "typ": "JWT"})
    yield "platform role claimed by a forger", jwt.encode({"sub": "m", "platform_role": "platform_admin"}, "y" * 48)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, object]) -> str:
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}."


def _with_header(token: str, header: dict[str, str]) -> str:
    _, body, signature = token.split(".")
    return f"{_b64(json.dumps(header).encode())}.{body}.{signature}"


def _call(client: httpx.Client, op: Operation, url: str, **kwargs: object) -> httpx.Response:
    body = {} if op.method in {"POST", "PUT", "PATCH"} else None
    if op.media_type == "multipart/form-data":
        # An upload route: a well-formed upload, so the answer is about the ids and the caller, not the body.
        files = {"file": ("probe.txt", f"probe {uuid.uuid4()}".encode(), "text/plain")}
        return client.request(op.method, url, files=files, timeout=30, **kwargs)  # type: ignore[arg-type]
    if op.path.endswith("/events"):
        kwargs.setdefault("headers", {})
        kwargs["headers"] = {**kwargs["headers"], "Last-Event-ID": "0-0"}  # type: ignore[dict-item]
        with client.stream(op.method, url, json=body, timeout=5, **kwargs) as response:  # type: ignore[arg-type]
            response.read() if response.status_code != 200 else None
            return response
    return client.request(op.method, url, json=body, timeout=30, **kwargs)  # type: ignore[arg-type]


def _assert_error(response: httpx.Response, statuses: set[int], context: str) -> None:
    assert response.status_code in statuses, f"{context}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}, context


def test_no_credentials_and_broken_credentials_are_401(
    platform: Platform, operations: list[Operation], victim: TenantA, revoked_key: str
) -> None:
    attempts = [("none", None), ("revoked key", revoked_key), ("garbage", "ak_garbage")]
    attempts += list(_forged_tokens(platform, victim.tenant_id))
    cases = 0
    with httpx.Client(base_url=platform.base_url) as client:
        for op in operations:
            for label, token in attempts:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = _call(client, op, op.url(victim.ids()), headers=headers)
                if op.path.startswith(SIGNED):
                    _assert_error(response, {401, 403, 404}, f"{label}: {op.method} {op.path}")
                    cases += 1
                    continue
                if op.path.startswith(OPEN):
                    _assert_error(response, {400, 409, 410, 422, 429}, f"{label}: {op.method} {op.path}")
                    cases += 1
                    continue
                _assert_error(response, {401}, f"{label}: {op.method} {op.path}")
                assert response.headers["www-authenticate"].startswith("Bearer")
                cases += 1
    assert cases == len(operations) * len(attempts)


def test_tenant_b_never_reaches_tenant_a(
    platform: Platform, operations: list[Operation], victim: TenantA, tenant_b: tuple[str, str]
) -> None:
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {tenant_b[1]}"}) as client:
        for op in operations:
            response = _call(client, op, op.url(victim.ids()))
            context = f"B on A: {op.method} {op.path} -> {response.status_code}"
            assert response.status_code < 500, context
            if op.params and not op.path.startswith(("/v1/admin", "/codec")):
                assert response.status_code in {403, 404, 422}, context
            if op.path.startswith(("/v1/admin", "/codec")):
                assert response.status_code == 403, context
            for fingerprint in victim.fingerprints():
                assert fingerprint not in response.text, f"{context} leaked {fingerprint[:12]}"


@pytest.mark.parametrize("injection", INJECTIONS)
def test_injection_in_path_and_query_is_a_clean_4xx(
    platform: Platform, operations: list[Operation], victim: TenantA, tenant_b: tuple[str, str], injection: str
) -> None:
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {tenant_b[1]}"}) as client:
        for op in operations:
            if not op.params:
                continue
            url = op.url({name: injection for name in op.params})
            response = _call(client, op, url, params={"cursor": injection, "after": injection})
            context = f"{op.method} {op.path} with {injection[:20]!r} -> {response.status_code}"
            assert 400 <= response.status_code < 500, context
            for fingerprint in victim.fingerprints():
                assert fingerprint not in response.text, context


def test_oversized_bodies_are_413(platform: Platform, operations: list[Operation], victim: TenantA) -> None:
    huge = b'{"content": "' + b"x" * 1_100_000 + b'"}'
    headers = {"Authorization": f"Bearer {victim.api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30) as client:
        checked = 0
        for op in operations:
            if op.method not in {"POST", "PUT", "PATCH"}:
                continue
            response = client.request(op.method, op.url(victim.ids()), content=huge)
            _assert_error(response, {413}, f"{op.method} {op.path}")
            checked += 1
    assert checked >= 5
