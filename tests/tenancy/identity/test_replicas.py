"""Two gateway replicas with a warm 30 s auth cache: revocations, rotations and suspensions reach both
within a second, and both verify RS256 (JWKS) and ES256 (static key) tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import text

from db.database import Database
from tenancy.auth_cache import publish_invalidation
from tenancy.jwt import issue_token
from tenancy.tenants import create_tenant
from tests.e2e.platform import Platform

from .conftest import AUDIENCE, ISSUER, REPLICA_SECRET, Keys, Replicas

PROPAGATION_LIMIT_SECONDS = 1.0


# One client for every probe: building a client per request costs more than the propagation being timed.
_client = httpx.Client(timeout=10)


def _probe(base_url: str, credential: str) -> int:
    # A made-up conversation: 404 means "authenticated", 401 means "not", and no workflow is touched.
    response = _client.get(
        f"{base_url}/v1/conversations/{uuid.uuid4()}", headers={"Authorization": f"Bearer {credential}"}
    )
    return response.status_code


def _rejected_everywhere_within(replicas: Replicas, credential: str, limit: float, status: int = 401) -> float:
    started = time.perf_counter()
    pending = set(replicas.urls)
    while pending:
        pending = {url for url in pending if _probe(url, credential) != status}
        elapsed = time.perf_counter() - started
        assert not pending or elapsed < limit, f"still accepted by {pending} after {elapsed:.3f}s"
    return time.perf_counter() - started


def _issue(base_url: str, owner_key: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/v1/api-keys",
        json={"name": f"r-{uuid.uuid4().hex[:6]}", **body},
        headers={"Authorization": f"Bearer {owner_key}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _warm(replicas: Replicas, credential: str) -> None:
    for url in replicas.urls:
        assert _probe(url, credential) == 404


def _admin_sql(platform: Platform, sql: str, **params: object) -> None:
    async def run() -> None:
        db = Database(platform.settings.database_url or "", pool_size=1)
        try:
            async with db.engine.begin() as conn:
                await conn.execute(text(sql), params)
        finally:
            await db.close()

    asyncio.run(run())


def test_the_cache_alone_would_hide_a_revocation(replicas: Replicas, platform: Platform, tenant_a: Any) -> None:
    key = _issue(replicas.urls[0], tenant_a[1], role="viewer")
    _warm(replicas, key["api_key"])
    # Revoked behind the gateways' backs: with no message, both keep serving their cached answer.
    _admin_sql(platform, "UPDATE api_keys SET revoked_at = now() WHERE id = :k", k=key["id"])
    assert all(_probe(url, key["api_key"]) == 404 for url in replicas.urls)

    async def publish() -> None:
        redis = Redis.from_url(platform.settings.redis_url or "")
        try:
            await publish_invalidation(redis, key_id=key["id"])
        finally:
            await redis.aclose()

    asyncio.run(publish())
    _rejected_everywhere_within(replicas, key["api_key"], PROPAGATION_LIMIT_SECONDS)


def test_a_revocation_reaches_the_other_replica_within_a_second(replicas: Replicas, tenant_a: Any) -> None:
    first, second = replicas.urls
    samples = []
    for _ in range(5):
        key = _issue(first, tenant_a[1], role="viewer")
        _warm(replicas, key["api_key"])
        revoked = _client.delete(f"{first}/v1/api-keys/{key['id']}", headers={"Authorization": f"Bearer {tenant_a[1]}"})
        assert revoked.status_code == 204
        samples.append(_rejected_everywhere_within(replicas, key["api_key"], PROPAGATION_LIMIT_SECONDS))
    print(f"revocation seen by both replicas after {[round(s * 1000, 1) for s in samples]} ms")
    assert _probe(second, tenant_a[1]) == 404


def test_a_rotation_ends_the_old_key_on_time_on_every_replica(replicas: Replicas, tenant_a: Any) -> None:
    first, _ = replicas.urls
    old = _issue(first, tenant_a[1], role="viewer")
    _warm(replicas, old["api_key"])
    rotated = httpx.post(
        f"{first}/v1/api-keys/{old['id']}/rotate",
        json={"overlap_seconds": 1},
        headers={"Authorization": f"Bearer {tenant_a[1]}"},
        timeout=10,
    )
    assert rotated.status_code == 201
    _warm(replicas, old["api_key"])  # still inside the overlap
    _warm(replicas, rotated.json()["api_key"])
    time.sleep(1.0)
    # Cached without an expiry before the rotation; the invalidation made every replica re-read it.
    _rejected_everywhere_within(replicas, old["api_key"], PROPAGATION_LIMIT_SECONDS)


def test_a_suspended_tenant_is_dropped_by_tenant_invalidation(replicas: Replicas, platform: Platform) -> None:
    created = asyncio.run(
        create_tenant(
            platform.settings.database_url or "",
            name=f"Suspend {uuid.uuid4().hex[:6]}",
            pepper=platform.settings.api_key_pepper.get_secret_value(),
        )
    )
    token = issue_token(
        REPLICA_SECRET,
        subject="carol",
        tenant_id=created.tenant_id,
        roles=("viewer",),
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    for credential in (created.api_key, token):
        _warm(replicas, credential)
    _admin_sql(platform, "UPDATE tenants SET status = 'suspended' WHERE id = :t", t=created.tenant_id)

    async def publish() -> None:
        redis = Redis.from_url(platform.settings.redis_url or "")
        try:
            await publish_invalidation(redis, tenant_id=created.tenant_id)
        finally:
            await redis.aclose()

    asyncio.run(publish())
    for credential in (created.api_key, token):
        # 403 `tenant_suspended`: the credentials are good, the tenant may not act.
        _rejected_everywhere_within(replicas, credential, PROPAGATION_LIMIT_SECONDS, status=403)


def test_replicas_verify_rs256_and_es256(replicas: Replicas, keys: Keys, tenant_a: Any) -> None:
    claims: dict[str, Any] = {"tenant_id": tenant_a[0], "roles": ("viewer",), "issuer": ISSUER, "audience": AUDIENCE}
    good = [
        issue_token(keys.rsa, subject="dave", algorithm="RS256", kid="rsa-1", **claims),
        issue_token(keys.ec, subject="dave", algorithm="ES256", kid="ec-1", **claims),
        issue_token(keys.ec_static, subject="dave", algorithm="ES256", kid="static-ec", **claims),
        issue_token(REPLICA_SECRET, subject="dave", **claims),
    ]
    bad = [
        issue_token(keys.rsa, subject="dave", algorithm="RS256", kid="rsa-1", **{**claims, "audience": "other"}),
        issue_token(keys.rsa_other, subject="dave", algorithm="RS256", kid="rsa-1", **claims),
        issue_token(keys.rsa, subject="dave", algorithm="RS256", kid="nobody", **claims),
        issue_token(REPLICA_SECRET, subject="dave", ttl_seconds=-600, **claims),
    ]
    for url in replicas.urls:
        assert [_probe(url, token) for token in good] == [404] * len(good)
        assert [_probe(url, token) for token in bad] == [401] * len(bad)
