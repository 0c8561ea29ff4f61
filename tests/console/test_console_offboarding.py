"""Offboarding a tenant from the console, against a real gateway and worker: the name typed to confirm, the
admin API's offboarding started, the run followed stage by stage to the purge (the page outliving the
tenant's rows), and the page refused to tenant users and operators without `platform_admin`."""

from __future__ import annotations

import re
import time

import httpx

from tests.console.conftest import ConsoleGateway, new_tenant
from tests.console.console_client import signed_in
from tests.e2e.platform import Platform

_STAGE = re.compile(r'<section id="offboarding" data-stage="([a-z_]+)" data-state="([a-z_]+)"')


def test_an_operator_offboards_a_tenant_and_follows_it_to_the_purge(
    console_gateway: ConsoleGateway, platform: Platform
) -> None:
    tenant_id, key = new_tenant(platform, "Leaving")
    api = httpx.Client(base_url=console_gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert api.post("/v1/conversations", json={"agent": "support"}).status_code == 201
    admin = {"Authorization": f"Bearer {console_gateway.operator_token(platform)}"}
    name = httpx.get(f"{console_gateway.url}/v1/admin/tenants/{tenant_id}", headers=admin).json()["name"]
    with signed_in(console_gateway.url, console_gateway.operator_token(platform)) as operator:
        listed = operator.get(f"/console/tenants?tenant={tenant_id}")
        assert 'class="offboard"' in listed.text
        path = f"/console/tenants/{tenant_id}/offboard"
        wrong = operator.post(path, {"confirm_name": "not its name", "retention_days": "0"})
        assert wrong.status_code == 422 and 'data-code="confirmation_required"' in wrong.text
        assert api.get("/v1/conversations").status_code == 200
        started = operator.post(path, {"confirm_name": name, "retention_days": "0", "reason": "contract ended"})
        assert started.status_code == 303, started.text
        progress = started.headers["location"]
        assert progress == f"/console/tenants/{tenant_id}/offboarding"
        # Access ends as offboarding begins.
        assert api.get("/v1/conversations").status_code == 401
        seen = set()
        deadline = time.monotonic() + 120
        while True:
            page = operator.get(progress, headers={"HX-Request": "true"})
            assert page.status_code == 200 and "<html" not in page.text, page.text[:300]
            stage, state = _STAGE.search(page.text).groups()  # type: ignore[union-attr]
            seen.add(stage)
            if state != "running":
                break
            assert 'hx-trigger="every 2s"' in page.text
            assert time.monotonic() < deadline, f"offboarding stuck at {stage}"
            time.sleep(0.5)
        assert (stage, state) == ("purged", "completed"), page.text
        # The whole page, after the tenant's rows are gone: the result of the run is what it reports.
        final = operator.get(progress)
        assert final.status_code == 200 and "a purged tenant" in final.text
        assert 'id="purged"' in final.text and 'id="purge-rows"' in final.text and 'id="export-path"' in final.text
        assert "hx-trigger" not in final.text
    api.close()


def test_offboarding_is_for_platform_admins_only(console_gateway: ConsoleGateway, platform: Platform) -> None:
    tenant_id, key = new_tenant(platform, "Staying")
    with signed_in(console_gateway.url, key) as owner:
        refused = owner.post(f"/console/tenants/{tenant_id}/offboard", {"confirm_name": "x"})
        assert refused.status_code == 403
        assert owner.get(f"/console/tenants/{tenant_id}/offboarding").status_code == 403
    operator_token = console_gateway.operator_token(platform, role="platform_operator")
    with signed_in(console_gateway.url, operator_token) as operator:
        assert operator.get(f"/console/tenants/{tenant_id}/offboarding").status_code == 403
    with signed_in(console_gateway.url, console_gateway.operator_token(platform)) as admin:
        never = admin.get(f"/console/tenants/{tenant_id}/offboarding")
        assert never.status_code == 404 and "offboarding_not_found" in never.text
    assert (
        httpx.get(f"{console_gateway.url}/v1/conversations", headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )
