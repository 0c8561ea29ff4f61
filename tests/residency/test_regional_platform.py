"""A gateway and a worker in regional mode (`AIAAS_REGION_DATABASE_URLS`): full conversations and API writes
of a tenant in each region land only in that region's database, a tenant of a region without a database gets
a clear 503, and nothing of either tenant's conversations reaches the control plane."""

from __future__ import annotations

import asyncio

import httpx

from db.database import Database
from db.regions import open_database
from tests.e2e.platform import Platform
from tests.e2e.sse import completed_for, read_frames
from tests.residency.conftest import Regional, new_tenant, rows_by_table

CONVERSATION_TABLES = {"conversations", "messages", "usage_ledger"}


def _tenant(regional: Regional, region: str) -> tuple[str, str]:
    async def create() -> tuple[str, str]:
        db = open_database(regional.settings, pool_size=1)
        try:
            return await new_tenant(db, regional.settings, region, "Regional")
        finally:
            await db.close()

    return asyncio.run(create())


def _client(platform: Platform, key: str) -> httpx.Client:
    return httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)


def _converse(api: httpx.Client, text: str) -> str:
    created = api.post("/v1/conversations", json={"agent": "support", "channel": "web"})
    assert created.status_code == 201, created.text
    conversation_id = str(created.json()["id"])
    posted = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": text})
    assert posted.status_code == 202, posted.text
    read_frames(api, conversation_id, completed_for(posted.json()["message_id"]), timeout=60)
    detail = api.get(f"/v1/conversations/{conversation_id}").json()
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [("user", text), ("assistant", f"echo: {text}")]
    return conversation_id


def test_conversations_and_api_writes_stay_in_their_region(regional_platform: Platform, regional: Regional) -> None:
    tenants = {region: _tenant(regional, region) for region in ("eu-west", "us-east")}
    conversations = {}
    for region, (_tenant_id, key) in tenants.items():
        with _client(regional_platform, key) as api:
            conversations[region] = _converse(api, f"hello from {region}")
            issued = api.post("/v1/api-keys", json={"name": "second"})
            assert issued.status_code == 201, issued.text
            # A key issued through the API authenticates: keys live in the control plane the lookup reads.
            with _client(regional_platform, issued.json()["api_key"]) as second:
                assert second.get(f"/v1/conversations/{conversations[region]}").status_code == 200

    (eu, eu_key), (us, _us_key) = tenants["eu-west"], tenants["us-east"]
    eu_rows = asyncio.run(rows_by_table(regional.admin_urls["eu-west"], eu))
    us_rows = asyncio.run(rows_by_table(regional.admin_urls["us-east"], us))
    assert set(eu_rows) >= CONVERSATION_TABLES and set(us_rows) >= CONVERSATION_TABLES, (eu_rows, us_rows)
    assert asyncio.run(rows_by_table(regional.admin_urls["eu-west"], us)) == {}
    assert asyncio.run(rows_by_table(regional.admin_urls["us-east"], eu)) == {}
    for tenant_id in (eu, us):
        control = asyncio.run(rows_by_table(regional.settings.database_url or "", tenant_id))
        assert not CONVERSATION_TABLES & set(control), control
        assert control["api_keys"] == 2

    # Another region's tenant's conversation is simply not there for this tenant.
    with _client(regional_platform, eu_key) as api:
        assert api.get(f"/v1/conversations/{conversations['us-east']}").status_code == 404


def test_a_tenant_of_a_region_without_a_database_gets_503(regional_platform: Platform, regional: Regional) -> None:
    async def control_plane_only() -> tuple[str, str]:
        control = Database(regional.settings.resolved_app_database_url(), pool_size=1)
        try:
            return await new_tenant(control, regional.settings, "ap-southeast", "Unserved")
        finally:
            await control.close()

    _tenant_id, key = asyncio.run(control_plane_only())
    with _client(regional_platform, key) as api:
        response = api.post("/v1/conversations", json={"agent": "support", "channel": "web"})
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "region_unavailable"
    assert response.json()["error"]["details"] == {"region": "ap-southeast"}


def _audit(api: httpx.Client, **params: object) -> list[dict]:
    """Every event of the caller's audit listing, page by page."""
    events, cursor = [], None
    while True:
        page = api.get("/v1/audit", params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        events += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return events


def test_the_audit_view_holds_both_chains_each_verified(regional_platform: Platform, regional: Regional) -> None:
    (eu, eu_key), (_us, us_key) = _tenant(regional, "eu-west"), _tenant(regional, "us-east")
    with _client(regional_platform, eu_key) as api, _client(regional_platform, us_key) as other:
        # A key issued is recorded by the control plane; a retention change by the tenant's region.
        assert api.post("/v1/api-keys", json={"name": "audited"}).status_code == 201
        assert api.put("/v1/retention", json={"transcripts_days": 30}).status_code == 200
        events = _audit(api, limit=2)
        chains = {(e["chain"], e["action"]) for e in events}
        assert {("control", "api_key.created"), ("tenant", "retention.updated")} <= chains, chains
        # One listing, newest first over both chains, each event once; each chain's own order kept.
        assert [e["occurred_at"] for e in events] == sorted((e["occurred_at"] for e in events), reverse=True)
        assert len({(e["chain"], e["id"]) for e in events}) == len(events)
        for chain in ("tenant", "control"):
            seqs = [e["seq"] for e in events if e["chain"] == chain]
            assert seqs == list(range(len(seqs), 0, -1)), (chain, seqs)
        assert _audit(api) == events
        # The owner's key made with the tenant and the one issued here: both in the control plane's chain.
        assert [e["chain"] for e in _audit(api, action="api_key.created")] == ["control", "control"]

        verified = api.get("/v1/audit/verify").json()
        assert verified["ok"] is True and verified["checked"] == len(events)
        assert {c["chain"]: (c["ok"], c["checked"]) for c in verified["chains"]} == {
            chain: (True, sum(1 for e in events if e["chain"] == chain)) for chain in ("tenant", "control")
        }
        # The other region's tenant sees its own two chains and none of these events.
        theirs = _audit(other)
        assert theirs and not {(e["chain"], e["id"]) for e in theirs} & {(e["chain"], e["id"]) for e in events}
        assert all(e["target"] != eu for e in theirs)
