"""Suspension blocks a tenant's traffic within a second, also on a replica that caches principals for 30 s.

The suspension is made on the platform's gateway; the caching replica only hears of it through the Redis
invalidation. Without that, it would keep answering the suspended tenant's key for up to 30 seconds.
"""

from __future__ import annotations

import time

import httpx
from temporalio.client import Client

from tests.e2e.platform import Platform
from tests.workflows.tenant_lifecycle.clients import NewTenant, bearer, tenant_token

DEADLINE_SECONDS = 1.0


def _refused_within(client: httpx.Client, path: str, seconds: float) -> float:
    started = time.monotonic()
    while True:
        status = client.get(path).status_code
        elapsed = time.monotonic() - started
        if status in (401, 403):
            return elapsed
        assert status == 200, status
        assert elapsed < seconds, f"still answered after {elapsed:.2f}s"
        time.sleep(0.02)


def test_suspension_reaches_a_caching_replica_within_a_second(
    caching_gateway: str, platform: Platform, admin: httpx.Client, new_tenant: NewTenant
) -> None:
    member_jwt = tenant_token(platform, new_tenant.id, "viewer")
    for token in (new_tenant.api_key, member_jwt):
        with httpx.Client(base_url=caching_gateway, headers=bearer(token), timeout=5.0) as replica:
            assert replica.get("/v1/tenant").status_code == 200  # now cached on the replica
    keyed = httpx.Client(base_url=caching_gateway, headers=bearer(new_tenant.api_key), timeout=5.0)
    signed = httpx.Client(base_url=caching_gateway, headers=bearer(member_jwt), timeout=5.0)
    with keyed, signed:
        assert admin.post(f"/v1/admin/tenants/{new_tenant.id}/suspend").status_code == 200
        assert _refused_within(keyed, "/v1/tenant", DEADLINE_SECONDS) < DEADLINE_SECONDS
        assert _refused_within(signed, "/v1/tenant", DEADLINE_SECONDS) < DEADLINE_SECONDS
        refused = keyed.post("/v1/conversations", json={})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "tenant_suspended"

        assert admin.post(f"/v1/admin/tenants/{new_tenant.id}/resume").status_code == 200
        # Refusals are never cached, so resuming needs no invalidation to take effect.
        assert keyed.get("/v1/tenant").status_code == 200
        assert signed.get("/v1/tenant").status_code == 200


async def test_offboarding_blocks_traffic_too(
    caching_gateway: str, admin: httpx.Client, new_tenant: NewTenant, temporal: Client
) -> None:
    with httpx.Client(base_url=caching_gateway, headers=bearer(new_tenant.api_key), timeout=5.0) as replica:
        assert replica.get("/v1/tenant").status_code == 200
        accepted = admin.post(f"/v1/admin/tenants/{new_tenant.id}/offboard", json={"retention_seconds": 3600})
        assert accepted.status_code == 202
        assert _refused_within(replica, "/v1/tenant", DEADLINE_SECONDS) < DEADLINE_SECONDS
    await temporal.get_workflow_handle(accepted.json()["workflow_id"]).terminate(reason="test done")
